// A request's page: the acts that end a request are confirmed in a dialog,
// and what staff type survives the live updates (live.js swaps the parts
// marked data-live when anything changed). Without this script each such
// form shows inline with its required "I understand" box: it works the same.
(function () {
  "use strict";
  var typed = {}; // "form action|field name" -> what staff typed there

  function fieldKey(field) {
    return field.form ? field.form.getAttribute("action") + "|" + field.name : "";
  }

  function remember(field) {
    if (field.name && field.type !== "hidden" && field.type !== "file" && field.type !== "checkbox") {
      typed[fieldKey(field)] = field.value;
    }
  }

  function setUp(root) {
    // What a refused form brought back counts as typed.
    root.querySelectorAll("form textarea, form input, form select").forEach(function (field) {
      if (field.value && field.defaultValue !== undefined) {
        remember(field);
      }
    });
    root.querySelectorAll("dialog.confirm").forEach(function (dialog) {
      var opener = document.querySelector('[data-dialog="' + dialog.id + '"]');
      var closer = dialog.querySelector(".closes-dialog");
      if (!opener || typeof dialog.showModal !== "function") {
        return; // no dialogs here: the form stays inline
      }
      var refused = dialog.classList.contains("refused");
      dialog.close();
      opener.hidden = false;
      opener.addEventListener("click", function () {
        dialog.showModal();
      });
      if (closer) {
        closer.hidden = false;
        closer.addEventListener("click", function () {
          dialog.close();
        });
      }
      if (refused) {
        dialog.showModal(); // the refusal is read where the form is
      }
    });
  }

  function restore(root) {
    root.querySelectorAll("form textarea, form input, form select").forEach(function (field) {
      var key = fieldKey(field);
      if (key && typed[key] !== undefined && field.value === field.defaultValue) {
        field.value = typed[key];
      }
    });
  }

  // A refused form answers at the form's address: the page's own address
  // again, so a reload or a live update reads the page and posts nothing.
  var head = document.querySelector("[data-page]");
  if (head && window.history && window.location.pathname !== head.getAttribute("data-page")) {
    window.history.replaceState(null, "", head.getAttribute("data-page"));
  }
  document.documentElement.classList.add("js");
  document.addEventListener("input", function (event) {
    remember(event.target);
  });
  document.addEventListener("change", function (event) {
    remember(event.target);
  });
  setUp(document);
  if (window.MutationObserver) {
    document.querySelectorAll("[data-live]").forEach(function (part) {
      new MutationObserver(function () {
        setUp(part);
        restore(part);
      }).observe(part, { childList: true });
    });
  }
})();
