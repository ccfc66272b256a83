// Registers the service worker, offers a reload when a new version is waiting, and keeps the
// browser's install prompt for after a report was sent (never on first load).
// Strings come from data attributes rendered by templates/pwa/_shell.html.
(function () {
  "use strict";

  var deferredPrompt = null;
  var reloading = false;
  var DISMISS_KEY = "lckzm-install-dismissed";

  function $(id) { return document.getElementById(id); }

  function showUpdate(registration) {
    var banner = $("sw-update");
    var button = $("sw-reload");
    if (!banner || !button || !registration.waiting) return;
    banner.hidden = false;
    button.onclick = function () {
      button.disabled = true;
      reloading = true;
      registration.waiting.postMessage({ type: "SKIP_WAITING" });
    };
  }

  function watchUpdates(registration) {
    if (registration.waiting && navigator.serviceWorker.controller) showUpdate(registration);
    registration.addEventListener("updatefound", function () {
      var worker = registration.installing;
      if (!worker) return;
      worker.addEventListener("statechange", function () {
        // "installed" while another worker controls the page = an update is waiting.
        if (worker.state === "installed" && navigator.serviceWorker.controller) showUpdate(registration);
      });
    });
    // The new worker took over because the resident clicked "Reload": now reload.
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      if (reloading) window.location.reload();
    });
  }

  function register() {
    var root = $("pwa");
    if (!root || !("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register(root.dataset.swUrl, { scope: "/" }).then(function (registration) {
      watchUpdates(registration);
    }).catch(function () { /* no SW (private mode, old browser): the site works online */ });
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "outbox-changed") {
        document.dispatchEvent(new CustomEvent("lckzm:outbox-changed", { detail: event.data.result || {} }));
      }
    });
  }

  // Install prompt: kept aside, shown by offerInstall() after a report was sent.
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    deferredPrompt = event;
  });
  window.addEventListener("appinstalled", function () {
    deferredPrompt = null;
    var offer = $("install-offer");
    if (offer) offer.hidden = true;
  });

  function standalone() {
    return (window.matchMedia && window.matchMedia("(display-mode: standalone)").matches) || navigator.standalone === true;
  }

  function offerInstall() {
    var offer = $("install-offer");
    if (!offer || standalone()) return;
    try { if (window.localStorage.getItem(DISMISS_KEY)) return; } catch (e) { /* storage off */ }
    var install = $("install-app");
    // Without the browser's prompt (iOS Safari) the offer links to the instructions only.
    install.hidden = !deferredPrompt;
    offer.hidden = false;
    install.onclick = function () {
      if (!deferredPrompt) return;
      deferredPrompt.prompt();
      deferredPrompt.userChoice.finally(function () { deferredPrompt = null; offer.hidden = true; });
    };
    $("install-dismiss").onclick = function () {
      offer.hidden = true;
      try { window.localStorage.setItem(DISMISS_KEY, String(Date.now())); } catch (e) { /* storage off */ }
    };
  }

  window.LckzmPwa = { offerInstall: offerInstall };
  register();
})();
