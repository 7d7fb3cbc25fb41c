// Ed25519 keys made and kept in this browser (WebCrypto); only public keys and signatures
// ever leave it. The stored key file has the same shape as the CLI's (`exchange keys
// generate`): {"crv", "kty", "x", "kid", "d"}, so either can restore the other.
"use strict";

(function () {
  const ALGORITHM = { name: "Ed25519" };

  function b64url(bytes) {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromB64url(text) {
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    const raw = atob(padded);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order.
  async function keyId(x) {
    const input = new TextEncoder().encode(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`);
    return b64url(await crypto.subtle.digest("SHA-256", input));
  }

  function storageName(org) {
    return `footprint-exchange:key:${org}`;
  }

  function storedKey(org) {
    try {
      const document = JSON.parse(localStorage.getItem(storageName(org)) || "null");
      return document && document.d && document.x ? document : null;
    } catch (error) {
      return null;
    }
  }

  async function checkedKeyFile(document) {
    if (!document || document.kty !== "OKP" || document.crv !== "Ed25519" || !document.d || !document.x) {
      throw new Error("not an Ed25519 private key file");
    }
    // Importing proves the halves belong together only when we sign; do a test signature.
    const privateKey = await crypto.subtle.importKey(
      "jwk", { kty: "OKP", crv: "Ed25519", x: document.x, d: document.d }, ALGORITHM, false, ["sign"]);
    const publicKey = await crypto.subtle.importKey("raw", fromB64url(document.x), ALGORITHM, false, ["verify"]);
    const probe = new TextEncoder().encode("footprint-exchange:key-check");
    const signature = await crypto.subtle.sign(ALGORITHM, privateKey, probe);
    if (!(await crypto.subtle.verify(ALGORITHM, publicKey, signature, probe))) {
      throw new Error("the public and private halves do not match");
    }
    return { crv: "Ed25519", kty: "OKP", x: document.x, kid: await keyId(document.x), d: document.d };
  }

  async function supported() {
    try {
      await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
      return true;
    } catch (error) {
      return false;
    }
  }

  function say(element, text) {
    if (element) element.textContent = text;
  }

  function registered(kid) {
    return document.querySelector(`tr[data-kid="${CSS.escape(kid)}"]`) !== null;
  }

  function register(file) {
    const form = document.getElementById("register-browser-key");
    document.getElementById("browser-jwk").value = JSON.stringify({ crv: file.crv, kty: file.kty, x: file.x });
    form.submit();
  }

  async function keysPage(section) {
    const org = section.dataset.org;
    const state = document.getElementById("browser-key-state");
    section.hidden = false;
    if (!(await supported())) {
      document.getElementById("unsupported").hidden = false;
      document.getElementById("generate-key").disabled = true;
      say(state, "");
      return;
    }
    const backup = document.getElementById("backup-key");
    const forget = document.getElementById("forget-key");
    const show = () => {
      const file = storedKey(org);
      backup.disabled = forget.disabled = !file;
      if (!file) {
        say(state, state.dataset.none || "No key in this browser.");
      } else {
        say(state, `kid ${file.kid}${registered(file.kid) ? "" : ` (${state.dataset.unregistered})`}`);
      }
      section.dataset.kid = file ? file.kid : "";
    };
    show();
    document.getElementById("generate-key").addEventListener("click", async () => {
      if (storedKey(org) && !window.confirm("Replace the key kept in this browser? Back it up first.")) return;
      const pair = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
      const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
      const file = await checkedKeyFile(jwk);
      localStorage.setItem(storageName(org), JSON.stringify(file));
      register(file);
    });
    backup.addEventListener("click", () => {
      const file = storedKey(org);
      if (!file) return;
      const blob = new Blob([JSON.stringify(file, null, 2) + "\n"], { type: "application/json" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `signing-key-${file.kid.slice(0, 8)}.jwk.json`;
      link.id = "backup-link";
      document.body.appendChild(link);
      link.click();
      setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    });
    document.getElementById("restore-key").addEventListener("change", async (event) => {
      const chosen = event.target.files[0];
      if (!chosen) return;
      try {
        const file = await checkedKeyFile(JSON.parse(await chosen.text()));
        localStorage.setItem(storageName(org), JSON.stringify(file));
        if (!registered(file.kid)) {
          register(file);
          return;
        }
        show();
      } catch (error) {
        say(state, `${error.message}`);
      }
    });
    forget.addEventListener("click", () => {
      if (window.confirm("Remove the key from this browser? Without a backup it is gone.")) {
        localStorage.removeItem(storageName(org));
        show();
      }
    });
  }

  async function draftPage(section) {
    const org = section.dataset.org;
    const state = document.getElementById("browser-key-state");
    const button = document.getElementById("browser-sign");
    section.hidden = false;
    if (!(await supported())) {
      say(state, state.dataset.unsupported);
      return;
    }
    const file = storedKey(org);
    if (!file) {
      say(state, state.dataset.none);
      return;
    }
    say(state, `kid ${file.kid}`);
    button.disabled = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const privateKey = await crypto.subtle.importKey(
        "jwk", { kty: "OKP", crv: "Ed25519", x: file.x, d: file.d }, ALGORITHM, false, ["sign"]);
      // The server fixed these bytes when it made the draft; they are signed unchanged.
      const message = fromB64url(section.dataset.message);
      const signature = await crypto.subtle.sign(ALGORITHM, privateKey, message);
      document.getElementById("browser-kid").value = file.kid;
      document.getElementById("browser-signature").value = b64url(signature);
      document.getElementById("browser-sign-form").submit();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const keys = document.getElementById("browser-key");
    if (keys) keysPage(keys);
    const signing = document.getElementById("browser-signing");
    if (signing) draftPage(signing);
  });
})();
