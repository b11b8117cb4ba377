// The caption overlay (OBS Browser Source). Style from URL parameters:
//   font (family), size (px), color, background (CSS colour, "none" for none), position (top|bottom),
//   outline (px of text outline, 0 for none), outline_color, badge (1: show the source), user (1: show the user)
// e.g. /overlay?size=42&color=%23ffffff&background=rgba(0,0,0,.5)&position=bottom&outline=2&user=1
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const get = (k, d) => (params.get(k) || d);
  const box = document.getElementById("box");
  const caption = document.getElementById("caption");
  const badge = document.getElementById("badge");
  const user = document.getElementById("user");
  const text = document.getElementById("text");

  const outline = Number(get("outline", "2")) || 0;
  const outlineColor = get("outline_color", "#000");
  const background = get("background", "rgba(0,0,0,0.55)");
  Object.assign(caption.style, {
    fontFamily: `${get("font", "Noto Sans")}, "Noto Sans CJK SC", "Noto Sans CJK JP", sans-serif`,
    fontSize: `${Number(get("size", "36")) || 36}px`,
    color: get("color", "#ffffff"),
    background: background === "none" ? "transparent" : background,
    textShadow: outline ? [[-1, -1], [1, -1], [-1, 1], [1, 1], [0, 1], [1, 0], [0, -1], [-1, 0]]
      .map(([x, y]) => `${x * outline}px ${y * outline}px 0 ${outlineColor}`).join(",") : "none",
  });
  box.className = get("position", "bottom") === "top" ? "top" : "bottom";
  const showBadge = get("badge", "0") === "1";
  const showUser = get("user", "0") === "1";
  const state = { caption: null, updates: 0 };
  window.overlay = state;  // read by the tests

  function show(c) {
    state.caption = c;
    state.updates += 1;
    text.textContent = c.text || "";
    badge.textContent = c.source || "";
    badge.hidden = !(showBadge && c.source);
    user.textContent = c.user || "";
    user.hidden = !(showUser && c.user);
    caption.classList.toggle("shown", !!(c.visible && c.text));
  }

  const stream = new EventSource("/v1/captions");
  stream.onmessage = (e) => { try { show(JSON.parse(e.data)); } catch (err) { /* ignore */ } };
})();
