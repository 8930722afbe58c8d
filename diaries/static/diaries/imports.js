// The import page: each running import asks for its status every second and shows how far it
// is; when one ends the page reloads to show the result. Text goes in with textContent only.

const POLL_MS = 1000;

for (const item of document.querySelectorAll("[data-import-job][data-status-url]")) {
  watch(item);
}

function watch(item) {
  const url = item.dataset.statusUrl;
  const $ = (role) => item.querySelector(`[data-role="${role}"]`);
  async function poll() {
    let data;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      data = await response.json();
    } catch {
      setTimeout(poll, POLL_MS * 3);  // offline or restarting: ask again a little later
      return;
    }
    item.dataset.status = data.status;
    $("status").textContent = data.status_label;
    const bar = $("bar");
    if (bar && data.total) {
      bar.max = data.total;
      bar.value = data.processed;
    }
    if (data.total) {
      $("progress").textContent = item.dataset.progressText
        .replace("{processed}", data.processed)
        .replace("{total}", data.total)
        .replace("{imported}", data.imported)
        .replace("{skipped}", data.skipped);
    }
    if (data.finished) {
      window.location.reload();
      return;
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
}
