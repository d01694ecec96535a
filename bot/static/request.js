// A request's page: the acts that end a request are confirmed in a dialog,
// and what staff type survives the live updates (live.js swaps the parts
// marked data-live when anything changed). Without this script each such
// form shows in place with its required "I understand" box: it works the same.
(function () {
  "use strict";
  var typed = {}; // "form action|field name" -> what staff typed there
  var openDialog = null; // the id of the dialog open now, to reopen after a swap

  function fieldKey(field) {
    return field.form ? field.form.getAttribute("action") + "|" + field.name : "";
  }

  function remember(field) {
    var skip = { hidden: 1, file: 1, checkbox: 1, submit: 1, button: 1 };
    if (field.name && field.form && !skip[field.type]) {
      typed[fieldKey(field)] = field.value;
    }
  }

  function fields(root) {
    return root.querySelectorAll("form textarea, form input, form select");
  }

  function setUp(root, first) {
    if (first) {
      fields(root).forEach(function (field) {
        if (field.value) {
          remember(field); // what a refused form brought back counts as typed
        }
      });
    }
    root.querySelectorAll("dialog.confirm").forEach(function (dialog) {
      var opener = document.querySelector('[data-dialog="' + dialog.id + '"]');
      var closer = dialog.querySelector(".closes-dialog");
      if (typeof dialog.showModal !== "function") {
        return;
      }
      function show() {
        if (!dialog.open) {
          dialog.showModal();
        }
        openDialog = dialog.id;
      }
      if (opener) {
        opener.addEventListener("click", show);
      }
      if (closer) {
        closer.addEventListener("click", function () {
          dialog.close();
        });
      }
      dialog.addEventListener("close", function () {
        if (openDialog === dialog.id && dialog.isConnected) {
          openDialog = null;
        }
      });
      if ((first && dialog.classList.contains("refused")) || openDialog === dialog.id) {
        show(); // the refusal is read where the form is; a swap does not close it
      }
    });
  }

  function restore(root) {
    fields(root).forEach(function (field) {
      var key = fieldKey(field);
      if (key && typed[key] !== undefined && field.value !== typed[key]) {
        field.value = typed[key];
      }
    });
  }

  document.documentElement.classList.add("js");
  // A refused form answers at the form's address: back to the page's own, so
  // a reload or a live update reads the page and posts nothing.
  var head = document.querySelector("[data-page]");
  if (head && window.history && window.location.pathname !== head.getAttribute("data-page")) {
    window.history.replaceState(null, "", head.getAttribute("data-page"));
  }
  document.addEventListener("input", function (event) {
    remember(event.target);
  });
  document.addEventListener("change", function (event) {
    remember(event.target);
  });
  document.addEventListener("submit", function (event) {
    // Sent: what was typed there is done with.
    fields(event.target).forEach(function (field) {
      delete typed[fieldKey(field)];
    });
  });
  setUp(document, true);
  if (window.MutationObserver) {
    document.querySelectorAll("[data-live]").forEach(function (part) {
      new MutationObserver(function () {
        restore(part);
        setUp(part, false);
      }).observe(part, { childList: true });
    });
  }
})();
