// Installed first in every tab (testkit/browser/injection.py hidden_shim): emulates a background
// tab for Tab.set_hidden(). The state lives in sessionStorage, so it survives reloads of the
// same tab, like a real background tab. The names in capitals between double underscores are
// filled in with JSON before the script is installed.
(() => {
  const KEY = __KEY__;
  let hidden = false;
  try { hidden = sessionStorage.getItem(KEY) === '1'; } catch (e) {}
  const P = Document.prototype;
  const origHasFocus = P.hasFocus;
  const def = (name, get) =>
    Object.defineProperty(P, name, { configurable: true, enumerable: true, get });
  def('hidden', function () { return hidden; });
  def('webkitHidden', function () { return hidden; });
  def('visibilityState', function () { return hidden ? 'hidden' : 'visible'; });
  def('webkitVisibilityState', function () { return hidden ? 'hidden' : 'visible'; });
  Object.defineProperty(P, 'hasFocus', { configurable: true, writable: true, value: function () {
    return !hidden && origHasFocus.call(this);
  } });
  Object.defineProperty(window, __SET_HIDDEN_FN__, { configurable: false, enumerable: false, value: (h) => {
    h = !!h;
    try { sessionStorage.setItem(KEY, h ? '1' : '0'); } catch (e) {}
    if (h === hidden) return hidden;
    hidden = h;
    if (h) window.dispatchEvent(new Event('blur'));
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
    if (!h) window.dispatchEvent(new Event('focus'));
    return hidden;
  } });
})();
