# The console's map library comes from the npm registry, like `make install` does on a workstation.
FROM node:20-slim AS console-assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY alerts alerts
COPY book book
COPY geo geo
COPY greenchannel greenchannel
COPY workers workers
COPY web web
COPY config config
COPY store store
COPY cli cli
COPY identity identity
COPY devtools devtools
COPY --from=console-assets /build/node_modules/leaflet/dist web/static/vendor/leaflet
COPY --from=console-assets /build/node_modules/chart.js/dist/chart.umd.min.js web/static/vendor/chartjs/chart.umd.min.js
COPY --from=console-assets /build/node_modules/swagger-ui-dist/swagger-ui-bundle.js /build/node_modules/swagger-ui-dist/swagger-ui.css web/static/vendor/swagger-ui/
RUN pip install --no-cache-dir .
RUN useradd --create-home haven
USER haven
EXPOSE 8080
CMD ["haven", "serve"]
