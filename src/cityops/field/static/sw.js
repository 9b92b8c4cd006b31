// The app shell is cached so the page opens without a network; API calls are never cached
// (reports wait in the page's IndexedDB outbox instead, see app.js).
const CACHE = "cityops-field-v1";
const SHELL = ["/m/", "/m/app.js", "/m/app.css", "/m/manifest.webmanifest", "/m/icon.svg", "/m/catalogue.json"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/m/")) return;
  // Network first (updates arrive at once), the cache when offline.
  event.respondWith(fetch(event.request).then((resp) => {
    const copy = resp.clone();
    caches.open(CACHE).then((c) => c.put(event.request, copy));
    return resp;
  }).catch(() => caches.match(event.request)));
});
