// The image gallery: /api/images/list a page at a time (newest first), each image fetched with
// the admin key and shown from a blob: URL (an <img src> could not send the key).
import { $, el } from "./dom.js";

export const GALLERY_PAGE_SIZE = 24;

const gallery = { page: 1, pages: 1, urls: [] };

export function galleryPage(step) {
  gallery.page = Math.min(Math.max(1, gallery.page + step), gallery.pages);
}

// `call(path)` is the dashboard's fetch with the key; its AccessError goes to the caller.
export async function renderGallery(call, isAccessError) {
  for (const url of gallery.urls) URL.revokeObjectURL(url);
  gallery.urls = [];
  let list = null;
  try {
    const response = await call(`/api/images/list?page=${gallery.page}&per_page=${GALLERY_PAGE_SIZE}`);
    if (response.ok) list = await response.json();
  } catch (error) {
    if (isAccessError(error)) throw error;
  }
  const images = (list && Array.isArray(list.images)) ? list.images : [];
  const total = list && Number.isInteger(list.total) ? list.total : images.length;
  gallery.pages = Math.max(1, Math.ceil(total / GALLERY_PAGE_SIZE));
  const figures = images.map((image) => {
    const figure = el("figure");
    const img = el("img");
    img.alt = image.filename;
    figure.append(img, el("figcaption", image.filename));
    loadImage(call, img, image.url);
    return figure;
  });
  $("gallery").replaceChildren(...figures);
  const off = Boolean(list) && list.save_images_locally === false && figures.length === 0;
  $("gallery-empty").hidden = figures.length > 0 || off;
  $("gallery-off").hidden = !off;
  const first = (gallery.page - 1) * GALLERY_PAGE_SIZE;
  $("gallery-info").textContent = total ? `${first + 1}–${first + images.length} of ${total}` : "";
  $("gallery-newer").disabled = gallery.page <= 1;
  $("gallery-older").disabled = gallery.page >= gallery.pages;
}

async function loadImage(call, img, url) {
  if (typeof url !== "string" || !url.startsWith("/")) return;  // only the gateway's own
  const response = await call(url).catch(() => null);
  if (!response || !response.ok) return;
  const objectUrl = URL.createObjectURL(await response.blob());
  gallery.urls.push(objectUrl);
  img.src = objectUrl;
}
