// Keys page: a Copy button beside a newly created key (shown only when this script runs; the field is read-only
// and selectable without it). The result is said in the notice's live region.
"use strict";

async function copyKey(field) {
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    return true;
  } catch {
    // No clipboard API (plain HTTP off localhost) or no permission: the older command copies the selection.
    return document.execCommand("copy");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const field = document.getElementById("new-key");
  const button = document.getElementById("copy-key");
  const said = document.getElementById("copied");
  if (!field || !button) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    said.textContent = (await copyKey(field)) ? "Copied."
      : "Could not copy: the key is selected, press Ctrl+C (Cmd+C on a Mac) to copy it.";
  });
});
