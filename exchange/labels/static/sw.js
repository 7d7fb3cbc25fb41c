// Keeps the verification page, its script and style, the trust list and the last status of
// each label seen, so that a label can be checked with no connection after one visit.
'use strict';

const CACHE = 'fx-label-v1';
const PAGE = '/01/page';
const SHELL = [PAGE, '/static/labels/verify.js', '/static/labels/verify.css', '/.well-known/trust-list.json'];

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

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(key);
    if (cached) return offlineCopy(cached);
    throw error;
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
  } else if (/^\/api\/v1\/labels\/[0-9]+\/status$/.test(url.pathname)) {
    event.respondWith(networkFirst(request, url.pathname));
  }
});
