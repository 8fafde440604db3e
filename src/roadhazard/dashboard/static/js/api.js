// Calls to the service's own API: relative URLs (so a proxy may serve it under a prefix), the
// key from sessionStorage, and problem+json answers turned into readable errors.

import { currentKey } from "./key.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export function apiUrl(path, params = {}) {
  const url = new URL(String(path).replace(/^\/+/, ""), document.baseURI);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

function headers() {
  const key = currentKey();
  return key ? { Accept: "application/json", "X-API-Key": key } : { Accept: "application/json" };
}

async function problemMessage(response) {
  try {
    const problem = await response.json();
    const detail = problem.detail ?? problem.title;
    if (typeof detail === "string" && detail) return detail;
  } catch {
    // not JSON: say what status came back
  }
  return `The service answered ${response.status}.`;
}

async function send(path, { method = "GET", params, signal } = {}) {
  let response;
  try {
    response = await fetch(apiUrl(path, params), {
      method,
      headers: headers(),
      signal,
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The service did not answer; the page tries again at its next refresh.");
  }
  if (!response.ok) throw new ApiError(response.status, await problemMessage(response));
  return response;
}

export async function getJson(path, options) {
  return (await send(path, options)).json();
}

export async function postJson(path, options = {}) {
  return (await send(path, { ...options, method: "POST" })).json();
}

// An image read with the key (reads need one), as a blob: URL the page may show.
export async function imageBlobUrl(path, signal) {
  const response = await send(path, { signal });
  return URL.createObjectURL(await response.blob());
}

export function isAbort(error) {
  return error?.name === "AbortError";
}
