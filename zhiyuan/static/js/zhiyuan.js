// Zhiyuan's own small script. No inline scripts anywhere: the Content-Security-Policy forbids them.
document.addEventListener("DOMContentLoaded", () => {
  // Switch language as soon as it is chosen; the button stays for keyboard and no-script users.
  const select = document.getElementById("lang-select");
  if (select && select.form) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
