// Keeps the verification page, its script and style and the trust list, so that a label's
// signature can be checked with no connection after one visit. Online, everything is fetched
// afresh (the trust list above all: a revocation must reach the phone). A kept trust list
// past its nextUpdate is never handed out as if current: the page gets a 503 that says so,
// and shows "cannot confirm" instead of a verdict.
'use strict';

const CACHE = 'fx-label-v3';
const PAGE = '/01/page';
const TRUST_LIST = '/.well-known/trust-list.json';
const SHELL = [PAGE, '/static/labels/verify.js', '/static/labels/verify.css', TRUST_LIST];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

function offlineCopy(response) {
  const headers = new Headers(response.headers);
  headers.set('X-FX-Offline', '1');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// Milliseconds of an ISO 8601 time (NaN if it is not one), as the page reads them.
function moment(text) {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(String(text));
  if (!match) return NaN;
  return Date.parse(match[1] + (match[2] ? match[2].slice(0, 4) : '') + match[3]);
}

// The kept trust list if it is still current; else the reason it cannot be used.
async function currentTrustList(cached) {
  let payload = null;
  try { payload = (await cached.clone().json()).trustList; } catch (e) { payload = null; }
  const nextUpdate = payload ? moment(payload.nextUpdate) : NaN;
  if (!Number.isNaN(nextUpdate) && Date.now() < nextUpdate) return offlineCopy(cached);
  const body = {
    code: 'trust-list-stale',
    message: 'The trust list kept on this device is past its nextUpdate (or names none): ' +
      'a key revoked since would not show in it. Connect to fetch a fresh one.',
    details: { issuedAt: payload && payload.issuedAt, nextUpdate: payload && payload.nextUpdate },
  };
  return new Response(JSON.stringify(body), {
    status: 503,
    headers: { 'Content-Type': 'application/json', 'X-FX-Offline': '1', 'Cache-Control': 'no-store' },
  });
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(key);
    if (!cached) throw error;
    return key === TRUST_LIST ? currentTrustList(cached) : offlineCopy(cached);
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && url.pathname.startsWith('/01/')) {
    event.respondWith(networkFirst(request, PAGE));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(networkFirst(request, url.pathname));
  }
});
