// Untrusted text → DOM. Every prompt, response and guideline is model or user text: it only ever
// reaches the page through textContent / text nodes, never innerHTML, so markup in it stays literal.
// Invisible bidi controls in it are shown, not obeyed (see BIDI_CONTROLS).

// Explicit bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the deprecated format
// controls (U+206A-U+206F, one swaps brackets): invisible, yet they reorder what is shown, so a response could
// read the opposite of what it says ("Trojan Source", CVE-2021-42574). Each is replaced by a visible, marked
// ⟨U+202E⟩ token, so the annotator sees that it is there and it reorders nothing. Marks (U+200E, U+200F,
// U+061C) stay: they are ordinary in right-to-left writing and cannot override or embed.
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u206F]/g;

const BIDI_NAMES = {
  0x202a: "left-to-right embedding",
  0x202b: "right-to-left embedding",
  0x202c: "pop directional formatting",
  0x202d: "left-to-right override",
  0x202e: "right-to-left override",
  0x2066: "left-to-right isolate",
  0x2067: "right-to-left isolate",
  0x2068: "first strong isolate",
  0x2069: "pop directional isolate",
};

function codePointLabel(ch) {
  return `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

// Text with each bidi control written out as ⟨U+XXXX⟩: for places that hold plain text only (titles, names).
export function showBidiControls(text) {
  return text.replace(BIDI_CONTROLS, (ch) => `⟨${codePointLabel(ch)}⟩`);
}

// Append text as text nodes, each bidi control as a marked token element in its place.
export function appendText(parent, text) {
  let last = 0;
  for (const match of text.matchAll(BIDI_CONTROLS)) {
    parent.append(document.createTextNode(text.slice(last, match.index)));
    const mark = document.createElement("span");
    mark.className = "bidi-control";
    const label = codePointLabel(match[0]);
    const name = BIDI_NAMES[match[0].codePointAt(0)] || "deprecated format control";
    mark.title = `An invisible text-direction control (${label}, ${name}) is here; it is shown and has no effect.`;
    mark.textContent = `⟨${label}⟩`;
    parent.append(mark);
    last = match.index + match[0].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/;

// Split text into prose and ``` fenced code blocks (CommonMark's fence rule, simplified:
// a fence closes on a line of the same character, at least as long; an unclosed fence runs to the end).
export function splitFences(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let prose = [];
  let i = 0;
  while (i < lines.length) {
    const open = FENCE_OPEN.exec(lines[i]);
    if (!open) {
      prose.push(lines[i]);
      i += 1;
      continue;
    }
    const fence = open[1];
    const close = new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`);
    const code = [];
    i += 1;
    while (i < lines.length && !close.test(lines[i])) {
      code.push(lines[i]);
      i += 1;
    }
    i += 1; // past the closing fence (or the end)
    if (prose.length) blocks.push({ type: "prose", text: prose.join("\n") });
    prose = [];
    blocks.push({ type: "code", lang: open[2] || "", text: code.join("\n") });
  }
  if (prose.length) blocks.push({ type: "prose", text: prose.join("\n") });
  return blocks.filter((block) => block.type === "code" || block.text.trim() !== "");
}

function appendInlineCode(parent, text) {
  const inline = /`([^`\n]+)`/g;
  let last = 0;
  for (const match of text.matchAll(inline)) {
    appendText(parent, text.slice(last, match.index));
    const code = document.createElement("code");
    appendText(code, match[1]);
    parent.append(code);
    last = match.index + match[0].length;
  }
  appendText(parent, text.slice(last));
}

// Replace the container's content with the text: whitespace kept, fenced code in monospace.
export function renderText(container, text) {
  container.replaceChildren();
  const source = typeof text === "string" ? text : "";
  if (source.trim() === "") {
    const empty = document.createElement("p");
    empty.className = "empty-text";
    empty.textContent = "(empty)";
    container.append(empty);
    return;
  }
  for (const block of splitFences(source)) {
    if (block.type === "code") {
      const figure = document.createElement("div");
      figure.className = "code-block";
      if (block.lang) {
        const label = document.createElement("span");
        label.className = "code-lang";
        label.textContent = showBidiControls(block.lang);
        figure.append(label);
      }
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      appendText(code, block.text);
      pre.append(code);
      figure.append(pre);
      container.append(figure);
    } else {
      const prose = document.createElement("div");
      prose.className = "prose";
      appendInlineCode(prose, block.text.replace(/^\n+|\n+$/g, ""));
      container.append(prose);
    }
  }
}

// Message roles of a conversational prompt (services/core/enums.py MessageRole) and how each is labelled.
const ROLE_LABELS = { system: "System", user: "User", assistant: "Assistant", tool: "Tool" };

// Replace the container's content with a prompt: a text (renderText), or a conversation, one labelled block per
// message in order, each message's content rendered as text like any other (text nodes only).
export function renderPrompt(container, prompt) {
  if (!Array.isArray(prompt)) {
    renderText(container, prompt);
    return;
  }
  container.replaceChildren();
  const list = document.createElement("ol");
  list.className = "conversation";
  list.setAttribute("aria-label", `Conversation of ${prompt.length} messages`);
  for (const message of prompt) {
    const role = Object.hasOwn(ROLE_LABELS, message?.role) ? message.role : "other";
    const item = document.createElement("li");
    item.className = `message message-${role}`;
    const label = document.createElement("span");
    label.className = "message-role";
    label.textContent = ROLE_LABELS[role] || "Message";
    const body = document.createElement("div");
    body.className = "message-content";
    renderText(body, typeof message?.content === "string" ? message.content : "");
    item.append(label, body);
    list.append(item);
  }
  container.append(list);
}
