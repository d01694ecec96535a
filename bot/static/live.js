// Live console: when the server reports a change (Server-Sent Events), fetch
// this page again and swap in the parts marked data-live, so new messages and
// hand-overs appear without a reload and without losing what staff are typing.
// On the inbox and a chat it also does what a person expects of a chat tool,
// each with a plain-HTML fallback: Ctrl+Enter (Cmd+Enter) sends, picking a
// ready answer puts it in the reply box, a confirmation opens as a dialog, and
// (if the agent turned it on) a sound and a browser notification tell of a
// chat handed over or transferred to them.
(function () {
  "use strict";
  var ALERTS_KEY = "privacybot.alerts";

  // -- what the page does on its own ----------------------------------------
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (
      event.key === "Enter" &&
      (event.ctrlKey || event.metaKey) &&
      field.matches &&
      field.matches("textarea[data-ctrl-enter]") &&
      field.form
    ) {
      event.preventDefault();
      if (field.value.trim() !== "") {
        field.form.requestSubmit();
      }
    }
  });

  document.addEventListener("click", function (event) {
    var picked = event.target.closest && event.target.closest("a[data-answer]");
    if (picked) {
      var box = document.getElementById("reply-text");
      if (box) {
        event.preventDefault();
        box.value = picked.textContent;
        var menu = picked.closest("details");
        if (menu) {
          menu.open = false;
        }
        box.focus();
        box.setSelectionRange(box.value.length, box.value.length);
      }
      return;
    }
    var closing = event.target.closest && event.target.closest("[data-close]");
    if (closing && closing.closest("dialog")) {
      closing.closest("dialog").close();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var asked = form.getAttribute && form.getAttribute("data-confirm");
    var dialog = asked && document.getElementById(asked);
    if (dialog && typeof dialog.showModal === "function") {
      event.preventDefault();
      dialog.showModal();
    }
  });

  // -- sound and notification, off until the agent turns them on --------------
  var toggle = document.getElementById("alerts-toggle");
  var alertsWanted = false;
  try {
    alertsWanted = window.localStorage.getItem(ALERTS_KEY) === "on";
  } catch (e) {
    alertsWanted = false;
  }
  if (toggle) {
    toggle.closest("[data-alerts]").hidden = false;
    toggle.checked = alertsWanted;
    toggle.addEventListener("change", function () {
      alertsWanted = toggle.checked;
      try {
        window.localStorage.setItem(ALERTS_KEY, alertsWanted ? "on" : "off");
      } catch (e) {}
      if (alertsWanted && window.Notification && Notification.permission === "default") {
        Notification.requestPermission();
      }
    });
  }

  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) {
      return;
    }
    var audio = new Context();
    var tone = audio.createOscillator();
    var volume = audio.createGain();
    tone.frequency.value = 880;
    volume.gain.setValueAtTime(0.15, audio.currentTime);
    volume.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(volume);
    volume.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  }

  function counts(doc) {
    var mark = doc.querySelector("[data-counts]");
    if (!mark) {
      return null;
    }
    return {
      waiting: Number(mark.getAttribute("data-waiting")),
      held: Number(mark.getAttribute("data-held")),
    };
  }

  function tell(before, after) {
    // Handed over (more chats waiting) or transferred to me (more I hold).
    if (!alertsWanted || !before || !after) {
      return;
    }
    if (after.waiting <= before.waiting && after.held <= before.held) {
      return;
    }
    beep();
    var label = document.querySelector("[data-alerts]");
    if (window.Notification && Notification.permission === "granted" && label) {
      new Notification(label.getAttribute("data-alert-title"), {
        body: label.getAttribute("data-alert-body"),
        tag: "privacybot-chat",
      });
    }
  }

  // -- live updates -----------------------------------------------------------
  if (!window.EventSource || !document.querySelector("[data-live]")) {
    return;
  }
  var busy = false;
  var again = false;
  var heldBack = false; // a part kept as it was while its dialog was open

  document.addEventListener(
    "close",
    function (event) {
      if (heldBack && event.target.tagName === "DIALOG") {
        heldBack = false;
        refresh();
      }
    },
    true // "close" does not bubble
  );

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Live": "1" }, // not activity: an unattended tab still times out
    })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("session ended");
        }
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var before = counts(document);
        document.querySelectorAll("[data-live]").forEach(function (part) {
          var next = fresh.getElementById(part.id);
          if (part.querySelector("dialog[open]")) {
            // A confirmation is open here: swapping would reset its box under
            // the reader's hand. The part is brought up to date once it closes.
            heldBack = true;
            return;
          }
          if (next && next.innerHTML !== part.innerHTML) {
            part.innerHTML = next.innerHTML;
          }
        });
        document.title = fresh.title; // "(2/5) ...": waiting for me / at all
        tell(before, counts(fresh));
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource("/console/events");
  source.addEventListener("change", refresh);
})();
