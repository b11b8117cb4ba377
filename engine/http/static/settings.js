// Settings: the sources' and the chat filters' fields from GET /v1/settings, saved with PUT.
// Secret fields are write-only: the page never sees a value, only whether one is set.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let loaded = null;

  function input(section, f) {
    const id = `set-${section}-${f.key}`;
    let node;
    if (f.type === "bool") {
      node = Object.assign(document.createElement("input"), { type: "checkbox", checked: !!f.value });
    } else if (f.choices) {
      node = document.createElement("select");
      for (const c of f.choices) node.append(new Option(c, c, false, c === f.value));
    } else {
      node = document.createElement("input");
      node.type = f.type === "int" || f.type === "float" ? "number" : "text";
      if (f.type === "float") node.step = "any";
      node.value = f.type === "list" ? (f.value || []).join(", ")
        : f.type === "map" ? JSON.stringify(f.value || {}) : (f.value ?? "");
    }
    Object.assign(node, { id, name: f.key });
    node.dataset.section = section;
    node.dataset.type = f.type;
    const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: f.key });
    const row = document.createElement("div");
    row.className = "field";
    row.append(label, node);
    return row;
  }

  function secretInput(s) {
    const node = Object.assign(document.createElement("input"), {
      type: "password", id: `secret-${s.name}`, autocomplete: "off",
      placeholder: s.set ? "set (hidden); type to replace" : "not set" });
    node.dataset.secret = s.name;
    const label = Object.assign(document.createElement("label"), { htmlFor: node.id,
      textContent: s.name + (s.from_env ? " (environment wins)" : ""), title: s.label });
    const row = document.createElement("div");
    row.className = "field";
    row.append(label, node);
    return row;
  }

  function fieldset(title, section, fields, secrets = []) {
    const box = document.createElement("fieldset");
    box.dataset.section = section;
    box.append(Object.assign(document.createElement("legend"), { textContent: title }));
    for (const f of fields) box.append(input(section, f));
    for (const s of secrets) box.append(secretInput(s));
    return box;
  }

  function render(data) {
    loaded = data;
    const form = $("settings-form");
    form.replaceChildren(fieldset("Chat filters", "chat", data.chat.fields));
    for (const [name, s] of Object.entries(data.sources)) {
      form.append(fieldset(`Source: ${name}`, `source:${name}`, s.fields, s.secrets));
    }
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent = `Saved to ${data.saved_to}; secrets to ${data.secrets_file} (mode 0600).`;
    form.append(note);
  }

  function value(node) {
    const t = node.dataset.type;
    if (t === "bool") return node.checked;
    if (t === "int" || t === "float") return node.value === "" ? null : Number(node.value);
    if (t === "list") return node.value.split(",").map((v) => v.trim()).filter(Boolean);
    if (t === "map") return JSON.parse(node.value || "{}");
    return node.value;
  }

  function changes() {
    const body = { chat: {}, sources: {}, secrets: {} };
    for (const node of $("settings-form").querySelectorAll("[data-section]")) {
      if (node.tagName === "FIELDSET") continue;
      const section = node.dataset.section;
      const old = section === "chat" ? loaded.chat.fields
        : loaded.sources[section.slice(7)].fields;
      const before = old.find((f) => f.key === node.name);
      const now = value(node);
      if (JSON.stringify(now) === JSON.stringify(before.value ?? (before.type === "str" ? "" : before.value))) continue;
      if (section === "chat") body.chat[node.name] = now;
      else (body.sources[section.slice(7)] ||= {})[node.name] = now;
    }
    for (const node of $("settings-form").querySelectorAll("[data-secret]")) {
      if (node.value) body.secrets[node.dataset.secret] = node.value;
    }
    return body;
  }

  async function load() {
    try {
      const resp = await fetch("/v1/settings", { credentials: "same-origin" });
      if (resp.ok) render(await resp.json());
    } catch (err) { /* shown by the poll's banner */ }
  }

  async function save() {
    const result = $("settings-result");
    let body;
    try { body = changes(); } catch (err) { result.textContent = `Not saved: ${err.message}`; return; }
    const resp = await fetch("/v1/settings", { method: "PUT", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await resp.json().catch(() => ({}));
    if (resp.ok) {
      render(data);
      result.textContent = "Saved.";
    } else {
      result.textContent = `Not saved: ${(data.error && data.error.message) || resp.status}`;
    }
  }

  $("settings").addEventListener("toggle", () => { if ($("settings").open) load(); });
  $("btn-save").addEventListener("click", save);
  window.dashboardSettings = { load, save };
})();
