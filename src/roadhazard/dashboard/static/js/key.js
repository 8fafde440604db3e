// The API key: entered once, kept in this tab's sessionStorage (gone when the tab closes),
// sent as X-API-Key. Never put in a URL, a cookie or the page.

const STORAGE_KEY = "roadhazard.apiKey";

export function currentKey() {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY) ?? "";
  } catch {
    return "";
  }
}

function storeKey(key) {
  try {
    if (key) window.sessionStorage.setItem(STORAGE_KEY, key);
    else window.sessionStorage.removeItem(STORAGE_KEY);
    return true;
  } catch {
    return false;
  }
}

export function setupKeyForm(form, onChange) {
  const input = form.querySelector("input");
  const status = form.querySelector("[role=status]");
  const forget = form.querySelector("[data-forget]");
  const show = () => {
    const present = currentKey() !== "";
    status.textContent = present ? "A key is set for this tab." : "No key set.";
    forget.disabled = !present;
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    input.value = "";
    if (!key) return;
    if (!storeKey(key)) {
      status.textContent = "This browser does not let the page keep a key.";
      return;
    }
    show();
    onChange();
  });
  forget.addEventListener("click", () => {
    storeKey("");
    show();
    onChange();
  });
  show();
}
