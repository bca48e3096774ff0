// A test double of WeixinJSBridge, the object the Weixin client injects into its web views.
//
// The official JS-SDK calls WeixinJSBridge.invoke(name, params, callback). This double sends
// each call to the Python binding named in BINDING_NAME, which forwards it to the sandbox's
// client simulator and returns the reply that the real client would give.
(() => {
  const BINDING_NAME = "__wxcardBridgeInvoke";
  if (window.WeixinJSBridge || window.top !== window) {
    return;
  }

  // iOS Weixin checks the wx.config signature against the URL the web view was opened with,
  // even after history.pushState; Android Weixin checks the URL the page shows now.
  const entryUrl = location.href;
  const checksEntryUrl = /iphone|ipad/i.test(navigator.userAgent);

  // Per document: the outcome of wx.config and the bridge names it unlocked. Weixin rejects
  // API calls made before wx.config has finished, or after it failed.
  const state = { preVerify: "none", verifiedApis: [] };

  function signedUrl() {
    const url = checksEntryUrl ? entryUrl : location.href;
    return url.split("#")[0];
  }

  function rejection(name) {
    // Replies name the call in snake case, so batchAddCard replies as batch_add_card.
    const prefix = name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
    if (state.preVerify === "pending") {
      return { err_msg: `${prefix}:fail_the permission value is offline verifying` };
    }
    return { err_msg: `${prefix}:fail_access denied` };
  }

  async function dispatch(name, params) {
    const context = { url: signedUrl(), href: location.href, entryUrl, checksEntryUrl };

    if (name === "preVerifyJSAPI") {
      state.preVerify = "pending";
      const reply = await window[BINDING_NAME](name, params, context);
      const ok = !reply.err_msg || reply.err_msg.endsWith(":ok");
      state.preVerify = ok ? "ok" : "fail";
      state.verifiedApis = ok ? (params.verifyJsApiList || []) : [];
      return reply;
    }

    // The getNetworkType reply has no network type, so the JS-SDK sends no usage report.
    if (name === "getNetworkType") {
      return { err_msg: "network_type:fail" };
    }

    if (state.preVerify !== "ok" || !state.verifiedApis.includes(name)) {
      const reply = rejection(name);
      window[BINDING_NAME]("rejected", { name, reply }, context);
      return reply;
    }
    return window[BINDING_NAME](name, params, context);
  }

  const listeners = {};
  window.WeixinJSBridge = {
    invoke(name, params, callback) {
      // The real client replies asynchronously, never inside invoke().
      dispatch(name, params || {}).then(
        (reply) => callback && callback(reply),
        (error) => callback && callback({ err_msg: `${name}:fail_${error}` }),
      );
    },
    on(name, callback) {
      (listeners[name] = listeners[name] || []).push(callback);
    },
    call() {},
  };

  // Pages that wait for the bridge listen for this event on document, as the JS-SDK does.
  const announce = () => document.dispatchEvent(new Event("WeixinJSBridgeReady"));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", announce, { once: true });
  } else {
    announce();
  }
})();
