// Label verification in the browser: the same rules as exchange/labels/verify.py.
// 1. Take the GS1 Digital Link URL apart (canonical form only).
// 2. Check the exchange's signed trust list against the pinned exchange key (pinned on the
//    first visit, kept in localStorage; the service worker keeps the list for offline use)
//    and that it is still current: a list past its nextUpdate may predate a key's revocation,
//    so with it the page can only say "cannot confirm" (amber), never green.
// 3. Verify the label's Ed25519 signature with WebCrypto over the RFC 8785 claims.
// 4. Online, ask the exchange (POST /api/v1/labels/verify): its answer is authoritative.
//    Green only when it issued exactly this label and it is still good; a label it never
//    issued, or issued with other claims, is red. With no answer, "checked offline" is a
//    weaker state that says what was not checked.
// 5. When the trust list names a witness policy (k of n witnesses, C2SP tlog-cosignature),
//    green also needs the label's log entry, computed here from the scanned label, to be in
//    a checkpoint signed by the exchange and cosigned by at least k of the listed witnesses
//    (GET /api/v1/labels/<n>/log). Fewer cosignatures: amber "cannot confirm" (the witnesses
//    may not have seen that part of the log yet, or the exchange shows this phone a log they
//    never saw). A proof or a cosignature that does not verify: red.
'use strict';

(function () {
  const LABEL_CONTEXT = 'footprint-exchange:label:v1';
  const TRUST_CONTEXT = 'footprint-exchange:trust-list:v1';
  const PIN_KEY = 'fx-pinned-exchange-keys';
  const UNITS = ['liter', 'kilogram', 'cubic meter', 'kilowatt hour', 'megajoule',
    'ton kilometer', 'square meter', 'piece', 'hour', 'megabit second'];
  const UNIT_SHORT = { liter: 'L', kilogram: 'kg', 'cubic meter': 'm³', 'kilowatt hour': 'kWh',
    megajoule: 'MJ', 'ton kilometer': 't·km', 'square meter': 'm²', piece: 'piece', hour: 'h',
    'megabit second': 'Mbit·s' };
  const EPOCH_MS = Date.UTC(2020, 0, 1);
  const DAY_MS = 86400000;
  const GROUP_BYTES = 7;
  const DIGITS_FOR = { 1: 3, 2: 5, 3: 8, 4: 10, 5: 13, 6: 15, 7: 17 };
  const BYTES_FOR = { 3: 1, 5: 2, 8: 3, 10: 4, 13: 5, 15: 6, 17: 7 };
  const UNRESERVED = /^[A-Za-z0-9._-]$/;
  const CSET82 = /^[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$/;
  const SIGNATURE_BYTES = 64;
  const FIXED = 20;

  const MESSAGES = {
    malformed: ['不是本计划的有效标识', 'Not a valid label of this programme'],
    'unknown-key': ['签名密钥不在信任列表中', 'Signed by a key the trust list does not name'],
    'key-revoked': ['签名密钥已被吊销', 'The signing key was revoked'],
    'key-not-valid': ['签名密钥在签发日无效', 'The signing key was not valid on the issue date'],
    'bad-signature': ['签名与标识内容不符（已被篡改）', 'The signature does not match (altered)'],
    expired: ['标识已过期', 'The label has expired'],
    'not-yet-valid': ['签发日期在未来', 'Issued in the future'],
    'trust-list': ['无法验证信任列表', 'The trust list could not be verified'],
    'no-trust-list': ['本机没有信任列表（请联网打开一次）', 'No trust list on this device (open once while online)'],
    'trust-list-stale': ['本机的信任列表已过期，可能未包含此后吊销的密钥', 'The trust list on this device is out of date: keys revoked since would not show'],
    'no-webcrypto': ['此浏览器无法验证 Ed25519 签名', 'This browser cannot verify Ed25519'],
    'certificate-suspended': ['证书已暂停', 'The certificate is suspended'],
    'certificate-revoked': ['证书已撤销', 'The certificate is revoked'],
    'certificate-expired': ['证书已过期', 'The certificate has expired'],
    'certificate-accreditation-withdrawn': ['认证机构资质已被撤销', "The body's accreditation was withdrawn"],
    'unknown-label': ['交易所未签发此标识', 'The exchange issued no such label'],
    'claims-differ': ['标识内容与交易所签发的不一致', 'The label differs from the one the exchange issued'],
    'wrong-origin': ['此标识属于其他交易所', 'The label names another exchange'],
    'not-witnessed': ['交易所的日志尚未经足够的见证方共同签署', "The exchange's log is not yet cosigned by enough witnesses"],
    'log-proof': ['交易所的日志证明不成立（可能向不同用户展示不同的日志）', "The exchange's log proof does not hold (it may be showing different logs to different people)"],
  };

  class LabelError extends Error {
    constructor(code, detail) { super(detail || code); this.code = code; this.detail = detail || ''; }
  }

  // --- encodings -------------------------------------------------------------------------

  function b64urlDecode(text) {
    if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
      throw new LabelError('malformed', 'not base64url');
    }
    const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
    const binary = atob(padded);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  function b64urlEncode(bytes) {
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // RFC 8785 for the values signed here (strings, integers, booleans, null, objects, arrays):
  // JavaScript sorts keys by UTF-16 code units and prints strings and numbers as RFC 8785 says.
  function canonical(value) {
    if (value === null || typeof value !== 'object') return JSON.stringify(value);
    if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
    return '{' + Object.keys(value).sort()
      .map((key) => JSON.stringify(key) + ':' + canonical(value[key])).join(',') + '}';
  }

  function checkDigit(digits) {
    let total = 0;
    for (let i = 0; i < digits.length; i++) {
      const digit = digits.charCodeAt(digits.length - 1 - i) - 48;
      total += digit * (i % 2 === 0 ? 3 : 1);
    }
    return (10 - (total % 10)) % 10;
  }

  function encodeSegment(text) {
    let out = '';
    for (const ch of text) {
      out += UNRESERVED.test(ch) ? ch : '%' + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
    }
    return out;
  }

  function decodeSegment(segment) {
    const text = segment.replace(/%([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
    if (encodeSegment(text) !== segment) throw new LabelError('malformed', 'non-canonical lot');
    return text;
  }

  function fromDigits(text) {
    if (!/^[0-9]+$/.test(text)) throw new LabelError('malformed', 'label data is digits');
    const out = [];
    for (let start = 0; start < text.length; start += DIGITS_FOR[GROUP_BYTES]) {
      const group = text.slice(start, start + DIGITS_FOR[GROUP_BYTES]);
      const size = BYTES_FOR[group.length];
      if (!size) throw new LabelError('malformed', 'label data has a wrong length');
      let number = BigInt(group);
      if (number >= (1n << BigInt(8 * size))) throw new LabelError('malformed', 'out of range');
      const bytes = new Array(size);
      for (let i = size - 1; i >= 0; i--) { bytes[i] = Number(number & 255n); number >>= 8n; }
      out.push(...bytes);
    }
    return new Uint8Array(out);
  }

  function isoDay(days) {
    return new Date(EPOCH_MS + days * DAY_MS).toISOString().slice(0, 10);
  }

  function valueText(mantissa, exponent) {
    const sign = mantissa < 0 ? '-' : '';
    let digits = String(Math.abs(mantissa));
    if (exponent >= 0) return mantissa === 0 ? '0' : sign + digits + '0'.repeat(exponent);
    digits = digits.padStart(-exponent + 1, '0');
    return sign + digits.slice(0, exponent) + '.' + digits.slice(exponent);
  }

  // Take a label URL's path and query apart (the host is the trust list's origin).
  function decodeLabel(pathname, search) {
    const match = /^\/01\/([0-9]{14})(?:\/10\/([^/]+))?$/.exec(pathname);
    if (!match) throw new LabelError('malformed', 'not /01/<GTIN-14>[/10/<lot>]');
    const gtin = match[1];
    if (checkDigit(gtin.slice(0, 13)) !== Number(gtin[13])) throw new LabelError('malformed', 'GTIN check digit');
    let lot = null;
    if (match[2] !== undefined) {
      lot = decodeSegment(match[2]);
      if (!CSET82.test(lot)) throw new LabelError('malformed', 'lot');
    }
    const query = /^\?L=([0-9]+)$/.exec(search);
    if (!query) throw new LabelError('malformed', 'the URL ends in ?L=<digits>');
    const data = fromDigits(query[1]);
    if (data.length < FIXED + 2 + SIGNATURE_BYTES || data[0] !== 1) throw new LabelError('malformed', 'format');
    const word = (a, b) => (data[a] << 8) | data[b];
    const label = ((data[1] << 24) >>> 0) + (data[2] << 16) + (data[3] << 8) + data[4];
    const certificate = ((data[5] << 24) >>> 0) + (data[6] << 16) + (data[7] << 8) + data[8];
    const issuedDays = word(9, 10);
    const validity = word(11, 12);
    const unitCode = data[13] >> 4;
    const grade = data[13] & 15;
    if (unitCode < 1 || unitCode > UNITS.length || grade > 9 || label === 0 || certificate === 0) {
      throw new LabelError('malformed', 'fields out of range');
    }
    const exponent = data[FIXED] > 127 ? data[FIXED] - 256 : data[FIXED];
    const varint = data.slice(FIXED + 1, data.length - SIGNATURE_BYTES);
    if (varint.length > 3 || (varint.length > 1 && varint[varint.length - 1] === 0)) {
      throw new LabelError('malformed', 'value');
    }
    let encoded = 0;
    for (let i = 0; i < varint.length; i++) {
      const last = i === varint.length - 1;
      if (((varint[i] & 128) === 0) !== last) throw new LabelError('malformed', 'value');
      encoded += (varint[i] & 127) * 2 ** (7 * i);
    }
    const mantissa = encoded % 2 === 0 ? encoded / 2 : -(encoded + 1) / 2;
    if (Math.abs(mantissa) >= 10000 || exponent < -100 || exponent > 100 ||
        (mantissa === 0 ? exponent !== 0 : mantissa % 10 === 0)) {
      throw new LabelError('malformed', 'value not canonical');
    }
    return {
      gtin, lot, label, certificate, grade: grade || null,
      unit: UNITS[unitCode - 1],
      value: valueText(mantissa, exponent),
      issued: isoDay(issuedDays),
      expires: isoDay(issuedDays + validity),
      kidPrefix: data.slice(14, FIXED),
      signature: data.slice(data.length - SIGNATURE_BYTES),
    };
  }

  // --- trust list ------------------------------------------------------------------------

  async function ed25519Verify(publicKey, signature, message) {
    const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
  }

  async function thumbprint(x) {
    const input = new TextEncoder().encode('{"crv":"Ed25519","kty":"OKP","x":"' + x + '"}');
    return b64urlEncode(new Uint8Array(await crypto.subtle.digest('SHA-256', input)));
  }

  function pinnedKeys() {
    try { return JSON.parse(localStorage.getItem(PIN_KEY) || '[]'); } catch (e) { return []; }
  }

  async function fetchJSON(url, init) {
    const response = await fetch(url, Object.assign({ cache: 'no-store' }, init || {}));
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { ok: response.ok, status: response.status, body, offline: response.headers.get('X-FX-Offline') === '1' };
  }

  // An ISO 8601 time as milliseconds (NaN if it is not one): Python writes microseconds.
  function moment(text) {
    const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(String(text));
    if (!match) return NaN;
    return Date.parse(match[1] + (match[2] ? match[2].slice(0, 4) : '') + match[3]);
  }

  // A list past its nextUpdate (or naming none) cannot confirm anything: it may predate a
  // key's revocation. The service worker says the same of a stale copy it holds.
  function checkCurrent(payload) {
    const nextUpdate = moment(payload.nextUpdate);
    if (Number.isNaN(nextUpdate) || Date.now() >= nextUpdate) {
      throw new LabelError('trust-list-stale', String(payload.nextUpdate || ''));
    }
  }

  async function loadTrustList() {
    let fetched;
    try { fetched = await fetchJSON('/.well-known/trust-list.json'); } catch (e) {
      throw new LabelError('no-trust-list', String(e));
    }
    if (!fetched.ok) {
      const code = fetched.body && fetched.body.code === 'trust-list-stale' ? 'trust-list-stale' : 'no-trust-list';
      const details = (fetched.body && fetched.body.details) || {};
      throw new LabelError(code, details.nextUpdate || '');
    }
    const document = fetched.body;
    const payload = document && document.trustList;
    const signature = document && document.signature;
    if (!payload || !signature || !payload.exchange || !payload.exchange.jwk) {
      throw new LabelError('trust-list', 'malformed');
    }
    let pinned = pinnedKeys();
    const first = pinned.length === 0;
    if (first) {
      // Trust on first use: pin the key that signs the list, as its thumbprint names it.
      const jwk = payload.exchange.jwk;
      if (await thumbprint(jwk.x) !== jwk.kid) throw new LabelError('trust-list', 'kid');
      pinned = [{ kid: jwk.kid, x: jwk.x }];
    }
    const signer = pinned.find((key) => key.kid === signature.kid);
    if (!signer) throw new LabelError('trust-list', 'not signed by the pinned exchange key');
    const message = new TextEncoder().encode(TRUST_CONTEXT + '\n' + canonical(payload));
    if (!await ed25519Verify(b64urlDecode(signer.x), b64urlDecode(signature.value), message)) {
      throw new LabelError('trust-list', 'signature');
    }
    if (first) localStorage.setItem(PIN_KEY, JSON.stringify(pinned));
    checkCurrent(payload);
    return payload;
  }

  // The exchange's verdict on the label as printed: its canonical URL on the exchange's host.
  async function askExchange(trust) {
    const text = 'HTTPS://' + trust.origin.toUpperCase() + location.pathname + location.search;
    try {
      const fetched = await fetchJSON('/api/v1/labels/verify', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text }),
      });
      const body = fetched.body;
      if (!fetched.ok || fetched.offline || !body || (body.verdict !== 'valid' && body.verdict !== 'invalid')) {
        return null;
      }
      return body;
    } catch (e) {
      return null;
    }
  }

  // --- verification ----------------------------------------------------------------------

  function startsWith(bytes, prefix) {
    return prefix.every((byte, i) => bytes[i] === byte);
  }

  async function verifyLabel(scanned, trust) {
    const today = new Date().toISOString().slice(0, 10);
    const prefix = Array.from(scanned.kidPrefix);
    const candidates = trust.exchange.labelKeys.filter((key) => startsWith(b64urlDecode(key.kid), prefix));
    if (candidates.length === 0) return { reasons: ['unknown-key'] };
    for (const key of candidates) {
      const claims = {
        certificate: scanned.certificate, expires: scanned.expires, grade: scanned.grade,
        gtin: scanned.gtin, issued: scanned.issued, kid: key.kid, label: scanned.label,
        lot: scanned.lot, origin: trust.origin, unit: scanned.unit, value: scanned.value,
      };
      const message = new TextEncoder().encode(LABEL_CONTEXT + '\n' + canonical(claims));
      if (await thumbprint(key.x) !== key.kid) continue;
      if (!await ed25519Verify(b64urlDecode(key.x), scanned.signature, message)) continue;
      const reasons = [];
      const notBefore = key.notBefore.slice(0, 10);
      if (scanned.issued < notBefore || (key.revokedAt && scanned.issued >= key.revokedAt.slice(0, 10))) {
        reasons.push(key.revokedAt ? 'key-revoked' : 'key-not-valid');
      }
      if (today > scanned.expires) reasons.push('expired');
      const tomorrow = new Date(Date.now() + DAY_MS).toISOString().slice(0, 10);
      if (scanned.issued > tomorrow) reasons.push('not-yet-valid');
      return { reasons, claims };
    }
    return { reasons: ['bad-signature'] };
  }

  // --- witnesses (C2SP signed-note, tlog-checkpoint, tlog-cosignature) ----------------------

  const NOTE_ED25519 = 0x01;
  const COSIGNATURE_ED25519 = 0x04;
  const DASH = '\u2014 ';

  class ProofError extends Error {}

  // Standard padded base64, canonical only.
  function b64Decode(text) {
    if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
      throw new ProofError('not base64');
    }
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    if (btoa(binary) !== text) throw new ProofError('not canonical base64');
    return out;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
    let offset = 0;
    for (const part of parts) { out.set(part, offset); offset += part.length; }
    return out;
  }

  function same(a, b) {
    return a.length === b.length && a.every((byte, i) => byte === b[i]);
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  }

  // SHA-256(name || 0x0A || type || public key)[:4]: the key id of signed-note keys.
  async function noteKeyId(name, type, publicKey) {
    const digest = await sha256(concat(new TextEncoder().encode(name + '\n'), [type], publicKey));
    return digest.slice(0, 4);
  }

  // A signed note's text and its signature lines (name, key id || signature).
  function parseNote(text) {
    const split = text.lastIndexOf('\n\n');
    if (split < 0 || !text.endsWith('\n')) throw new ProofError('not a signed note');
    const body = text.slice(0, split + 1);
    const lines = text.slice(split + 2, -1).split('\n');
    return {
      body,
      signatures: lines.map((line) => {
        if (!line.startsWith(DASH)) throw new ProofError('not a signature line');
        const [name, blob] = line.slice(DASH.length).split(' ');
        return { name, blob: b64Decode(blob || '') };
      }),
    };
  }

  // A witness's verifier key: name+hex(key id)+base64(0x04 || public key), checked.
  async function parseVkey(text, type) {
    const parts = String(text).split('+');
    if (parts.length < 3) throw new ProofError('not a verifier key');
    const name = parts[0];
    const material = b64Decode(parts.slice(2).join('+'));
    if (material.length !== 33 || material[0] !== type) throw new ProofError('not an Ed25519 key');
    const publicKey = material.slice(1);
    const id = await noteKeyId(name, type, publicKey);
    if (Array.from(id, (b) => b.toString(16).padStart(2, '0')).join('') !== parts[1]) {
      throw new ProofError('the verifier key id does not match');
    }
    return { name, id, publicKey };
  }

  // RFC 9162 section 2.1.3.2: the root an inclusion proof leads to.
  async function rootFromInclusion(index, size, leaf, proof) {
    if (!(index >= 0 && index < size)) throw new ProofError('index outside the tree');
    let fn = index;
    let sn = size - 1;
    let result = leaf;
    for (const sibling of proof) {
      if (sn === 0) throw new ProofError('inclusion proof too long');
      if (fn % 2 === 1 || fn === sn) {
        result = await sha256(concat([1], sibling, result));
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        result = await sha256(concat([1], result, sibling));
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new ProofError('inclusion proof too short');
    return result;
  }

  function witnessesOf(trust) {
    const section = trust.witnesses;
    if (!section || !Array.isArray(section.witnesses) || !(section.quorum > 0)) return null;
    return section;
  }

  // Whether the scanned label's log entry is in a checkpoint the exchange signed and at least
  // the quorum of listed witnesses cosigned: { met, by: [operators], detail }. Throws a
  // ProofError when something does not verify (red); null when it cannot be fetched.
  async function checkWitnessed(trust, section, scanned) {
    let fetched;
    try { fetched = await fetchJSON('/api/v1/labels/' + scanned.label + '/log'); } catch (e) { return null; }
    if (!fetched.ok || fetched.offline || !fetched.body) return null;
    const data = fetched.body;
    const note = parseNote(String(data.checkpoint));
    const [origin, sizeText, rootText] = note.body.split('\n');
    if (String(origin).toLowerCase() !== trust.origin || !/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) {
      throw new ProofError('the checkpoint is not of this exchange\'s log');
    }
    const size = Number(sizeText);
    const root = b64Decode(rootText);
    const message = new TextEncoder().encode(note.body);
    // The exchange's signature, by any of its keys in the (pinned, verified) trust list.
    let signed = false;
    for (const key of trust.exchange.keys || [trust.exchange.jwk]) {
      const publicKey = b64urlDecode(key.x);
      const id = await noteKeyId(origin, NOTE_ED25519, publicKey);
      for (const signature of note.signatures) {
        if (signature.name !== origin || !same(signature.blob.slice(0, 4), id)) continue;
        if (!await ed25519Verify(publicKey, signature.blob.slice(4), message)) {
          throw new ProofError('the exchange\'s checkpoint signature does not verify');
        }
        signed = true;
      }
    }
    if (!signed) throw new ProofError('the checkpoint is not signed by the exchange');
    // The entry, from the label as scanned: its number and its canonical URL.
    const url = 'HTTPS://' + trust.origin.toUpperCase() + location.pathname + location.search;
    const entry = new TextEncoder().encode(canonical({ label: scanned.label, url }));
    const leaf = await sha256(concat([0], entry));
    const proof = data.inclusionProof || {};
    if (proof.size !== size || !Array.isArray(proof.proof)) throw new ProofError('the proof is for another checkpoint');
    const found = await rootFromInclusion(Number(proof.index), size, leaf, proof.proof.map(b64Decode));
    if (!same(found, root)) throw new ProofError('the label is not in the exchange\'s log as signed');
    // The witnesses' cosignatures: each known one must verify; count them.
    const by = [];
    for (const witness of section.witnesses) {
      const key = await parseVkey(witness.verifierKey, COSIGNATURE_ED25519);
      for (const signature of note.signatures) {
        if (signature.name !== key.name || !same(signature.blob.slice(0, 4), key.id)) continue;
        if (signature.blob.length !== 76) throw new ProofError('a cosignature is malformed');
        let time = 0n;
        for (const byte of signature.blob.slice(4, 12)) time = (time << 8n) | BigInt(byte);
        const signedMessage = new TextEncoder().encode('cosignature/v1\ntime ' + time.toString() + '\n' + note.body);
        if (!await ed25519Verify(key.publicKey, signature.blob.slice(12), signedMessage)) {
          throw new ProofError('the cosignature of ' + key.name + ' does not verify');
        }
        if (!by.includes(witness.operator || key.name)) by.push(witness.operator || key.name);
      }
    }
    return { met: by.length >= section.quorum, by };
  }

  function showWitnesses(section, by) {
    const partners = section.witnesses.every((item) => item.kind === 'partner-programme');
    const zh = partners ? '个伙伴计划' : '个见证方';
    const en = partners ? 'partner programmes' : 'witnesses';
    const box = $('witnessed');
    box.hidden = false;
    box.dataset.count = String(by.length);
    box.textContent = '经 ' + section.witnesses.length + ' ' + zh + '中的 ' + by.length + ' 个见证 · witnessed by ' +
      by.length + ' of ' + section.witnesses.length + ' ' + en + (by.length ? ': ' + by.join(', ') : '') +
      ' (' + section.quorum + ' required)';
  }

  // --- page ------------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function set(id, text) { $(id).textContent = text === null || text === undefined || text === '' ? '–' : String(text); }

  const LOOKS = {
    valid: ['ok', '✓'],
    'valid-offline': ['offline', '○'],
    'cannot-confirm': ['warn', '!'],
    invalid: ['bad', '✕'],
  };

  // reasons: codes, or [code, detail] pairs (the detail follows the message).
  function show(state, zh, en, reasons) {
    const box = $('verdict');
    const [look, icon] = LOOKS[state] || ['pending', '…'];
    box.className = 'verdict ' + look;
    box.dataset.verdict = state;
    box.querySelector('.verdict-icon').textContent = icon;
    set('verdict-zh', zh);
    set('verdict-en', en);
    const list = $('reasons');
    list.textContent = '';
    list.className = 'reasons ' + look;
    for (const reason of reasons || []) {
      const [code, detail] = Array.isArray(reason) ? reason : [reason, ''];
      const item = document.createElement('li');
      const [reasonZh, reasonEn] = MESSAGES[code] || [code, code];
      item.textContent = reasonZh + ' · ' + reasonEn + (detail ? ' (' + detail + ')' : '');
      item.dataset.code = code;
      list.appendChild(item);
    }
  }

  const NOT_ISSUED = ['unknown-label', 'claims-differ'];

  function fail(reasons) {
    const codes = reasons.map((reason) => (Array.isArray(reason) ? reason[0] : reason));
    if (codes.some((code) => NOT_ISSUED.includes(code))) {
      return show('invalid', '非本计划签发的标识：请勿信任', 'Not issued by the programme: do not trust this label', reasons);
    }
    show('invalid', '验证失败：请勿信任此标识', 'Verification failed: do not trust this label', reasons);
  }

  function cannotConfirm(code, detail) {
    show('cannot-confirm', '无法确认：请联网更新', 'Cannot confirm — connect to update', [[code, detail]]);
  }

  function showClaims(claims) {
    $('facts').hidden = false;
    set('value', claims.value);
    set('unit', 'kg CO₂e / ' + (UNIT_SHORT[claims.unit] || claims.unit));
    set('grade', claims.grade);
    $('grade').dataset.grade = claims.grade === null ? 'none' : String(claims.grade);
    set('gtin', claims.gtin);
    set('lot', claims.lot);
    set('certificate', claims.certificate);
    set('issued', claims.issued);
    set('expires', claims.expires);
    set('kid', claims.kid);
  }

  function showIssued(issued) {
    set('product', issued.product && issued.product.name);
    set('company', issued.company && issued.company.name);
    set('body', issued.certificate && issued.certificate.body);
    set('certificate-status', issued.certificate && issued.certificate.status);
  }

  function registerServiceWorker() {
    if (!('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register('/01/sw.js', { scope: '/01/' }).catch(() => {});
  }

  async function main() {
    registerServiceWorker();
    if (!crypto.subtle) return fail(['no-webcrypto']);
    let scanned;
    try {
      scanned = decodeLabel(location.pathname, location.search);
    } catch (error) {
      return fail([error.code || 'malformed']);
    }
    let trust;
    try {
      trust = await loadTrustList();
    } catch (error) {
      if (error.code === 'trust-list-stale' || error.code === 'no-trust-list') {
        const until = error.code === 'trust-list-stale' ? moment(error.detail) : NaN;
        return cannotConfirm(error.code, Number.isNaN(until) ? '' : '有效期至 valid until ' + error.detail.slice(0, 10));
      }
      return fail([error.code || 'trust-list']);
    }
    let result;
    try {
      result = await verifyLabel(scanned, trust);
    } catch (error) {
      return fail([error.code || 'no-webcrypto']);
    }
    if (result.claims) showClaims(result.claims);
    if (result.reasons.length) return fail(result.reasons);
    const answer = await askExchange(trust);
    if (answer === null) {
      set('notice-list', trust.issuedAt.slice(0, 10) + ' – ' + trust.nextUpdate.slice(0, 10));
      $('notice').hidden = false;
      return show('valid-offline', '签名有效（仅离线验证，未经交易所确认）',
        'Genuine signature, checked offline only: not confirmed by the exchange', []);
    }
    if (answer.issued) showIssued(answer.issued);
    if (answer.verdict !== 'valid') {
      return fail((answer.reasons || []).map((reason) => reason.code));
    }
    const section = witnessesOf(trust);
    if (section) {
      let witnessed;
      try {
        witnessed = await checkWitnessed(trust, section, scanned);
      } catch (error) {
        return fail([['log-proof', error.message || '']]);
      }
      if (witnessed) showWitnesses(section, witnessed.by);
      if (!witnessed || !witnessed.met) {
        const count = witnessed ? witnessed.by.length : 0;
        return show('cannot-confirm', '无法确认：交易所的日志尚未经足够的见证', "Cannot confirm — the exchange's log is not witnessed as required",
          [['not-witnessed', count + ' / ' + section.quorum]]);
      }
    }
    show('valid', '真实有效的碳足迹标识', 'Genuine, valid carbon label', []);
  }

  document.addEventListener('DOMContentLoaded', () => { main(); });
})();
