FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY alerts alerts
COPY geo geo
COPY greenchannel greenchannel
COPY workers workers
COPY web web
COPY config config
COPY store store
COPY cli cli
RUN pip install --no-cache-dir .
RUN useradd --create-home haven
USER haven
EXPOSE 8080
CMD ["haven", "serve"]
