// What htmx does not do by itself: open the dialog a response lands in, Copy, menus.
"use strict";

(function () {
  const modal = () => document.getElementById("modal");

  // Anything swapped into the dialog's body opens the dialog (as a modal: focus stays in it).
  document.addEventListener("htmx:afterSwap", (event) => {
    const dialog = modal();
    if (dialog && dialog.contains(event.detail.target) && !dialog.open) {
      dialog.showModal();
      const first = dialog.querySelector("input, select, textarea, button");
      if (first) first.focus();
    }
  });

  // A new request clears the last message of the alert region.
  document.addEventListener("htmx:beforeRequest", () => {
    const flash = document.getElementById("flash");
    if (flash) flash.replaceChildren();
  });

  document.addEventListener("click", (event) => {
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();

    const copier = event.target.closest("[data-copy]");
    if (copier) {
      const source = document.getElementById(copier.dataset.copy);
      const status = copier.parentElement.querySelector(".copy-status");
      navigator.clipboard.writeText(source.textContent.trim()).then(
        () => { if (status) status.textContent = "Copied to the clipboard."; },
        () => { if (status) status.textContent = "Copy failed: select the text and copy it."; },
      );
    }

    // One open Actions/Execute/Manage menu at a time; a click elsewhere closes them.
    document.querySelectorAll("details.actions[open], details.menu-button[open]").forEach((menu) => {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.actions[open], details.menu-button[open]").forEach((menu) => {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });

  document.addEventListener("DOMContentLoaded", () => {
    const dialog = modal();
    if (!dialog) return;
    dialog.addEventListener("close", () => {
      // A dialog that changed what the page shows (e.g. trust established) refreshes it.
      const reload = dialog.querySelector("[data-reload-on-close]");
      dialog.querySelector("#modal-body").replaceChildren();
      if (reload) window.location.reload();
    });
  });
})();
