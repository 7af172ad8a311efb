// UserSync console: the copy buttons and the directory form's placeholders. Everything
// else works without JavaScript.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});

// The directory form: the greyed defaults follow the server type chosen (the server
// renders them for the type it was given; this only keeps them in step as it changes).
document.addEventListener("change", function (event) {
  var select = event.target.closest("[data-server-type]");
  if (!select) return;
  var ad = select.value === "active_directory";
  select.form.querySelectorAll("[data-openldap]").forEach(function (field) {
    field.placeholder = field.getAttribute(ad ? "data-ad" : "data-openldap");
  });
});
