// The share link's Copy button: the clipboard where the browser allows it, else the old copy
// command, else the link is left selected for the reader to copy. Without this script the
// button stays hidden and the link can be selected and copied by hand.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const input = document.getElementById(button.dataset.copy);
  const status = button.parentElement.querySelector("[data-role=copy-status]");
  if (!input) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    input.focus();
    input.select();
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(input.value);
        copied = true;
      } catch {
        copied = false;
      }
    }
    if (!copied) {
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    if (status) status.textContent = copied ? button.dataset.copied : button.dataset.manual;
  });
}
