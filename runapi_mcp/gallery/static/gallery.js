// The gallery page: fetches the journal's items once, filters them in place, shows one full size in a dialog.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let items = [];
  let current = null;

  function statusGroup(item) {
    if (item.pending) return "pending";
    return item.status === "completed" ? "completed" : "failed";
  }

  function money(usd) { return usd == null ? "cost unknown" : "$" + usd.toFixed(2); }
  function size(item) { return item.width && item.height ? item.width + "×" + item.height : "size unknown"; }
  function date(iso) { return iso.replace("T", " ").replace("Z", " UTC"); }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text != null) node.textContent = text;  // never innerHTML: prompts are user text
    return node;
  }

  function card(item, position) {
    const li = el("li", { class: "card", "data-status": statusGroup(item), "data-task": item.task_id || "" });
    const alt = item.prompt ? "Image for: " + item.prompt : "Generated image";
    if (item.thumb_url) {
      const open = el("button", { class: "open", type: "button", "aria-label": "View full size: " + (item.prompt || item.task_id) });
      const img = el("img", { src: item.thumb_url, alt: alt, loading: "lazy" });
      open.append(img);
      open.addEventListener("click", () => show(position));
      li.append(open);
    } else {
      const why = item.pending ? "Pending: not finished yet. Continue it with get_task." : (item.unavailable || "No image");
      li.append(el("div", { class: "placeholder" }, why));
    }
    const meta = el("div", { class: "meta" });
    meta.append(el("p", { class: "prompt" }, item.prompt || "(no prompt)"));
    const facts = el("p", { class: "facts" });
    facts.append(el("span", { class: "badge " + statusGroup(item) }, item.pending && item.status !== "pending" ? "pending (" + item.status + ")" : item.status));
    facts.append(document.createTextNode(" · " + date(item.created_at) + " · " + size(item) + " · " + money(item.cost_usd)));
    meta.append(facts);
    li.append(meta);
    return li;
  }

  function matches(item, query, status) {
    if (status && statusGroup(item) !== status) return false;
    if (!query) return true;
    const hay = [item.prompt, item.task_id, item.path, item.status].join(" ").toLowerCase();
    return query.toLowerCase().split(/\s+/).every((word) => hay.includes(word));
  }

  function render() {
    const query = $("q").value.trim();
    const status = $("status").value;
    const grid = $("grid");
    grid.replaceChildren();
    let shown = 0;
    items.forEach((item, position) => {
      if (matches(item, query, status)) { grid.append(card(item, position)); shown += 1; }
    });
    $("empty").hidden = shown !== 0;
    $("count").textContent = shown === items.length ? items.length + " items" : shown + " of " + items.length + " items";
  }

  function show(position) {
    const item = items[position];
    current = item;
    $("full").src = item.image_url;
    $("full").alt = item.prompt ? "Full size: " + item.prompt : "Full size image";
    $("viewer-title").textContent = item.prompt;
    const details = $("details");
    details.replaceChildren();
    const rows = [
      ["Task", item.reference], ["Status", item.status], ["Created", date(item.created_at)], ["Size", size(item)],
      ["Cost", money(item.cost_usd)], ["File", item.path || "not saved"],
      ["URL expires", item.url_expires_at || "unknown"],
    ];
    for (const [k, v] of rows) { details.append(el("dt", {}, k)); details.append(el("dd", {}, v)); }
    $("copy-path").disabled = !item.path;
    $("copied").textContent = "";
    $("viewer").showModal();
    $("close").focus();
  }

  async function copy(text, what) {
    try {
      await navigator.clipboard.writeText(text);
      $("copied").textContent = "Copied " + what + ": " + text;
    } catch (err) {
      $("copied").textContent = "Copy failed; select it by hand: " + text;
    }
  }

  async function load() {
    $("count").textContent = "Loading…";
    try {
      const response = await fetch("api/items", { cache: "no-store" });
      if (!response.ok) throw new Error(await response.text());
      items = (await response.json()).items;
      render();
    } catch (err) {
      $("count").textContent = "Cannot read the task journal: " + err.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("q").addEventListener("input", render);
    $("status").addEventListener("change", render);
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    $("reload").addEventListener("click", load);
    $("close").addEventListener("click", () => $("viewer").close());
    $("copy-ref").addEventListener("click", () => current && copy(current.reference, "reference"));
    $("copy-path").addEventListener("click", () => current && current.path && copy(current.path, "path"));
    load();
  });
})();
