// Keyboard work in the moderation queue (issue 7). No inline script: loaded as a file.
// j/k move between reports, a approves, r/c/e/n open a form of the current report, Esc closes.
(function () {
  "use strict";

  function items() { return Array.prototype.slice.call(document.querySelectorAll(".queue-item[data-report]")); }

  function current() {
    var el = document.activeElement;
    return el && el.closest ? el.closest(".queue-item[data-report]") : null;
  }

  function focusItem(item) {
    if (item) { item.focus(); item.scrollIntoView({ block: "nearest" }); }
  }

  function move(step) {
    var list = items();
    if (!list.length) { return; }
    var index = list.indexOf(current());
    var next = index < 0 ? 0 : Math.min(list.length - 1, Math.max(0, index + step));
    focusItem(list[next]);
  }

  function typing(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function openPanel(item, name) {
    var details = item.querySelector('details[data-panel="' + name + '"]');
    if (!details) { return; }
    details.open = true;
    var field = details.querySelector("select, input:not([type=hidden]), textarea");
    if (field) { field.focus(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape") {
      var open = document.activeElement && document.activeElement.closest &&
        document.activeElement.closest("details[open]");
      if (open) { open.open = false; focusItem(open.closest(".queue-item")); event.preventDefault(); }
      return;
    }
    if (typing(event.target)) { return; }
    var item = current();
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a":
        if (!item) { return; }
        var approve = item.querySelector('[data-shortcut="a"]');
        if (approve) { approve.click(); }
        break;
      case "r": if (item) { openPanel(item, "reject"); } break;
      case "c": if (item) { openPanel(item, "reroute"); } break;
      case "e": if (item) { openPanel(item, "edit"); } break;
      case "n": if (item) { openPanel(item, "note"); } break;
      default: return;
    }
    event.preventDefault();
  });

  // The API key screen's "copy" button: the clipboard API where the browser allows it, else
  // the token is selected (and execCommand tried) so Ctrl+C copies it; a live region says which.
  function copyButton(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (!field || !status) { return; }
    function say(text) { status.textContent = text; }
    function selectAll() {
      field.focus();
      field.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      say(button.getAttribute(copied ? "data-copied" : "data-selected"));
    }
    button.addEventListener("click", function () {
      say("");
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () {
          say(button.getAttribute("data-copied"));
        }, selectAll);
      } else {
        selectAll();
      }
    });
    button.hidden = false;
  }

  function ready() {
    Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), copyButton);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }

  // After an action htmx swaps the row: keep the operator's place by focusing the new row,
  // or, when the action was refused for one field, that field (the form is open again and the
  // message next to it is read through aria-describedby).
  document.addEventListener("htmx:afterSwap", function (event) {
    var detail = event.detail || {};
    var path = detail.requestConfig && detail.requestConfig.path;
    var match = path && path.match(/\/admin\/reports\/(\d+)\//);
    var row = match ? document.getElementById("report-" + match[1]) : null;
    if (!row) { return; }
    var invalid = row.querySelector('details[open] [aria-invalid="true"]');
    (invalid || row).focus();
  });
})();
