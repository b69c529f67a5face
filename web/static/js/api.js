// The console's only way to the server: same-origin requests with the session cookie (HttpOnly), and the
// session's X-CSRF-Token on every write, as the server requires of a signed-in browser.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
  }
}

const READS = new Set(["GET", "HEAD"]);
let csrfToken = null;
export function setCsrfToken(token) {
  csrfToken = token || null;
}

let onUnauthenticated = () => {};
export function whenSignedOut(handler) {
  onUnauthenticated = handler;
}

// Paths whose 401 means "wrong code or password", not "your session ended".
const SIGN_IN_PATHS = ["/v1/auth/", "/v1/console/me"];

function writeHeaders(method) {
  return !READS.has(method) && csrfToken ? { "X-CSRF-Token": csrfToken } : {};
}

function failed(status, path, data) {
  const error = new ApiError(status, data);
  if (status === 401 && !SIGN_IN_PATHS.some((prefix) => path.startsWith(prefix))) onUnauthenticated();
  return error;
}

export async function api(method, path, body, headers = {}) {
  const options = { method, headers: { Accept: "application/json", ...writeHeaders(method), ...headers },
    credentials: "same-origin" };
  if (body instanceof FormData || body instanceof Blob) {
    options.body = body;
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, options);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw failed(response.status, path, data);
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body, headers) => api("POST", path, body ?? {}, headers);

// A multipart upload with progress: fetch cannot report how much of a request body has gone, XHR can.
// onProgress(fraction) is called as the bytes leave; resolves with the JSON answer.
export function upload(path, form, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.withCredentials = true;
    request.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(writeHeaders("POST"))) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      let data = null;
      try { data = JSON.parse(request.responseText); } catch { data = null; }
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(failed(request.status, path, data));
    });
    request.addEventListener("error", () => reject(new ApiError(0, null)));
    request.addEventListener("abort", () => reject(new ApiError(0, null)));
    request.send(form);
  });
}
