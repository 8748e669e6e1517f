// Live analysis for the investigation worksheet: as the officer types, post the form (with its CSRF token) to
// the live endpoint and swap in the results panel it renders. Without this script, the submit buttons recompute
// on the server, so the page works the same, one submit at a time.
(function () {
  "use strict";
  var form = document.getElementById("worksheet");
  var target = document.getElementById("results-body");
  if (!form || !target || !window.fetch) { return; }
  var timer = null;
  var sent = 0;

  function refresh() {
    var ticket = ++sent;
    var body = new URLSearchParams(new FormData(form));
    body.delete("action");
    fetch(form.dataset.live, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "text/html", "X-CSRF-Token": form.elements.csrf_token.value }
    }).then(function (response) {
      if (response.status === 200 || response.status === 422) { return response.text(); }
      throw new Error("HTTP " + response.status);
    }).then(function (html) {
      // Only the newest answer counts: a slow reply to an older keystroke must not overwrite a newer one.
      if (ticket === sent) {
        target.innerHTML = html;
        form.dataset.analysed = String(ticket);
      }
    }).catch(function () { /* offline in the field: the submit buttons still work */ });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
