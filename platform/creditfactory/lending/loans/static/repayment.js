// One click posts once: the button is disabled while the form is sent. The server does not rely on this: the
// form's Idempotency-Key makes a second submission return the first posting.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("repayment-form");
  if (!form) return;
  form.addEventListener("submit", () => {
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
  });
});
