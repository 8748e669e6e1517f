// Starts Swagger UI on the API docs page. It lives in a file, not inline in the page, because the
// Content-Security-Policy allows scripts from this origin only; the page passes its settings in data- attributes.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var config = JSON.parse(root.getAttribute("data-config") || "{}");
  config.url = root.getAttribute("data-spec-url");
  config.domNode = root;
  window.ui = SwaggerUIBundle(config);
})();
