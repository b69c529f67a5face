// The browsable API page: Swagger UI over this server's own /openapi.json.
// validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#api",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  showExtensions: true,  // the roles each operation needs are its x-roles
  withCredentials: true,
});
