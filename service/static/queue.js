// Review queue keyboard use: j / k select the next / previous comment, a / r approve / reject the one holding the focus.
// Buttons post the decision with fetch and remove the item; without JavaScript the forms still work.
// Single-key shortcuts can be turned off (WCAG 2.1.4: speech input types letters), and a / r act only on the focused
// comment, never on one selected earlier while the focus is elsewhere. A comment is decided once: a held-down key (which
// repeats) or a second click while its answer is on the way sends nothing more.
"use strict";

const SHORTCUTS_KEY = "queue-shortcuts";

// A browser that blocks site storage throws on localStorage: the choice then lasts as long as the page.
function remembered() {
  try { return localStorage.getItem(SHORTCUTS_KEY); } catch { return null; }
}

function remember(value) {
  try { localStorage.setItem(SHORTCUTS_KEY, value); } catch { /* kept for this page only */ }
}

document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("queue-count");
  const shortcuts = document.getElementById("shortcuts");
  let selected = null;

  // The keys' help is hidden in the page: without this script the keys do nothing.
  const help = document.getElementById("queue-help");
  const list = document.querySelector(".queue");
  if (help) {
    help.removeAttribute("hidden");
    if (list) list.setAttribute("aria-describedby", help.id);
  }

  if (shortcuts) {
    shortcuts.checked = remembered() !== "off";
    shortcuts.closest("[hidden]")?.removeAttribute("hidden");
    shortcuts.addEventListener("change", () => remember(shortcuts.checked ? "on" : "off"));
  }

  const items = () => Array.from(document.querySelectorAll(".queue .item"));
  const deciding = new Set();  // items whose decision is on its way

  function select(item) {
    if (selected) selected.classList.remove("selected");
    selected = item;
    if (!item) return;
    item.classList.add("selected");
    item.focus();
    item.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = items();
    if (all.length === 0) return;
    const index = selected ? all.indexOf(selected) : -1;
    select(all[Math.min(Math.max(index + step, 0), all.length - 1)]);
  }

  async function decide(form, decision) {
    const item = form.closest(".item");
    if (deciding.has(item)) return;
    deciding.add(item);
    const body = new FormData(form);
    body.set("decision", decision);
    let response;
    try {
      response = await fetch(form.action, { method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin" });
    } catch (error) {
      deciding.delete(item);
      status.textContent = "Could not reach the server; the decision was not saved.";
      return;
    }
    if (!response.ok) {
      // 409: decided already, by someone else or by this moderator in another tab or window: not "another moderator".
      status.textContent = response.status === 409 ? "That comment was already decided (by another moderator, or by you in another tab), so this decision was not saved; it is off the queue."
        : response.status === 401 ? "You are signed out, so the decision was not saved: reload the page and sign in again."
        : "The decision was not saved (error " + response.status + "); reload the page.";
      if (response.status !== 409) { deciding.delete(item); return; }
    } else {
      status.textContent = (decision === "approve" ? "Approved" : "Rejected") + " the comment; " + (items().length - 1) + " left on this page.";
    }
    const all = items();
    const next = all[all.indexOf(item) + 1] || all[all.indexOf(item) - 1] || null;
    item.remove();
    deciding.delete(item);
    select(next);
    if (!next) status.focus();  // the last one on the page: keep the focus on the page, where the result is said
  }

  document.querySelectorAll(".queue form.decide").forEach((form) => {
    form.addEventListener("submit", (event) => {
      // A browser that does not say which button was pressed (no event.submitter) posts the form itself, with the
      // pressed button's value: guessing a decision here would approve a comment the moderator meant to reject.
      const decision = event.submitter ? event.submitter.value : null;
      if (decision !== "approve" && decision !== "reject") return;
      event.preventDefault();
      decide(form, decision);
    });
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (shortcuts && !shortcuts.checked) return;
    const target = event.target;
    if (target.closest && target.closest("input, select, textarea")) return;
    const focused = target.closest ? target.closest(".queue .item") : null;
    if (event.key === "j") { move(1); event.preventDefault(); }
    else if (event.key === "k") { move(-1); event.preventDefault(); }
    else if ((event.key === "a" || event.key === "r") && focused) {
      // A key held down repeats: once the focused comment is decided, the repeats would decide the next ones too.
      if (!event.repeat) decide(focused.querySelector("form.decide"), event.key === "a" ? "approve" : "reject");
      event.preventDefault();
    }
  });
});
