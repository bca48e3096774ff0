/*
 * The landing page script: wx.config for this page, then wx.addCard on a tap.
 *
 * It runs only when <body data-state="loading">, which the server sets for mobile Weixin
 * and a card that can be added. It moves data-state through configuring, ready, adding,
 * added, cancelled, failed, config-failed and sdk-failed, sets data-error on failures,
 * and shows the matching text from #landing-messages in #status.
 *
 * Written in ES5 with XMLHttpRequest and callbacks, because old Weixin web views
 * (Android 4.4 era, Weixin 6.x) have neither fetch nor Promise.
 */
(function () {
  'use strict';

  var body = document.body;
  if (!body || body.getAttribute('data-state') !== 'loading') {
    return;
  }

  var messages = {};
  try {
    messages = JSON.parse(document.getElementById('landing-messages').textContent || '{}');
  } catch (ignored) {
    messages = {};
  }

  var statusElement = document.getElementById('status');
  var button = document.getElementById('add-card');
  var configUrl = body.getAttribute('data-config-url');
  var cardExtUrl = body.getAttribute('data-card-ext-url');
  var jssdkUrl = body.getAttribute('data-jssdk-url');
  var outerStr = body.getAttribute('data-outer-str') || '';

  // iOS Weixin checks wx.config against the URL the page was entered with, for the whole
  // life of the page; Android checks the current URL. So keep the entry URL now.
  var entryUrl = location.href.split('#')[0];
  var isIOS = /iPhone|iPad|iPod/i.test(navigator.userAgent);

  var CONFIG_TIMEOUT_MS = 15000;
  var sdk = null;
  var isReady = false;
  var configFailed = false;
  var isAdding = false;
  var isResigning = false;
  var pendingTap = false;
  var signedUrl = null;
  var readyTimer = null;

  function setState(state, messageKey, errorCode, errorDetail) {
    body.setAttribute('data-state', state);
    if (errorCode) {
      body.setAttribute('data-error', errorCode);
    } else {
      body.removeAttribute('data-error');
    }
    if (errorDetail) {
      body.setAttribute('data-error-detail', errorDetail);
    } else {
      body.removeAttribute('data-error-detail');
    }
    if (statusElement && messageKey) {
      statusElement.textContent = messages[messageKey] || '';
    }
  }

  function setButtonEnabled(enabled) {
    if (button) {
      button.disabled = !enabled;
    }
  }

  function currentSigningUrl() {
    return isIOS ? entryUrl : location.href.split('#')[0];
  }

  function getJson(url, onSuccess, onFailure) {
    var request = new XMLHttpRequest();
    request.open('GET', url, true);
    request.setRequestHeader('Accept', 'application/json');
    request.onreadystatechange = function () {
      if (request.readyState !== 4) {
        return;
      }
      if (request.status !== 200) {
        onFailure('HTTP ' + request.status);
        return;
      }
      var data;
      try {
        data = JSON.parse(request.responseText);
      } catch (error) {
        onFailure('invalid JSON');
        return;
      }
      onSuccess(data);
    };
    request.send();
  }

  function usableSdk(candidate) {
    if (candidate && typeof candidate.config === 'function' && typeof candidate.ready === 'function') {
      return candidate;
    }
    return null;
  }

  // Load the JS-SDK so that it works in both packagings. The official jweixin script sets
  // window.wx and window.jWeixin. A module-style build (the npm weixin-js-sdk package)
  // assigns module.exports and never sets window.wx. So while the script loads, the page
  // defines a module object for it to fill, and restores the previous globals afterwards.
  function loadSdk(src, onLoaded, onFailure) {
    var existing = usableSdk(window.jWeixin) || usableSdk(window.wx);
    if (existing) {
      onLoaded(existing);
      return;
    }

    var hadModule = Object.prototype.hasOwnProperty.call(window, 'module');
    var hadExports = Object.prototype.hasOwnProperty.call(window, 'exports');
    var savedModule = window.module;
    var savedExports = window.exports;
    var moduleShim = { exports: {} };
    window.module = moduleShim;
    window.exports = moduleShim.exports;

    function restoreGlobals() {
      if (hadModule) {
        window.module = savedModule;
      } else {
        delete window.module;
      }
      if (hadExports) {
        window.exports = savedExports;
      } else {
        delete window.exports;
      }
    }

    var script = document.createElement('script');
    script.src = src;
    script.async = true;
    script.onload = function () {
      restoreGlobals();
      var loaded = usableSdk(window.jWeixin) || usableSdk(window.wx) || usableSdk(moduleShim.exports);
      if (!loaded) {
        onFailure('the script defined no wx object');
        return;
      }
      if (!window.wx) {
        window.wx = loaded;
      }
      onLoaded(loaded);
    };
    script.onerror = function () {
      restoreGlobals();
      onFailure('the script could not be loaded');
    };
    (document.head || document.documentElement).appendChild(script);
  }

  function configErrorKey(errMsg) {
    var text = String(errMsg || '').toLowerCase();
    if (text.indexOf('invalid signature') >= 0) {
      return ['invalid_signature', 'invalid-signature'];
    }
    if (text.indexOf('invalid url domain') >= 0) {
      return ['invalid_url_domain', 'invalid-url-domain'];
    }
    if (text.indexOf('permission') >= 0) {
      return ['permission_denied', 'permission-denied'];
    }
    return ['config_failed', 'config-failed'];
  }

  function onConfigError(result) {
    // The SDK calls wx.ready even after a failed config, so the failure must win.
    configFailed = true;
    isReady = false;
    isResigning = false;
    clearTimeout(readyTimer);
    var errMsg = (result && result.errMsg) || '';
    var keys = configErrorKey(errMsg);
    if (isAdding) {
      isAdding = false;
      pendingTap = false;
    }
    setButtonEnabled(false);
    setState('config-failed', keys[0], keys[1], errMsg);
  }

  function onReady() {
    clearTimeout(readyTimer);
    if (configFailed) {
      return;
    }
    isReady = true;
    isResigning = false;
    if (pendingTap) {
      pendingTap = false;
      requestCardExt();
      return;
    }
    if (!isAdding) {
      setState('ready', 'ready');
      setButtonEnabled(true);
    }
  }

  // The SDK fires wx.ready only after the first wx.config: a later wx.config reports a
  // failure through wx.error but success through nothing. So a re-sign learns that
  // Weixin has finished verifying by watching the bridge's reply to preVerifyJSAPI.
  // Where the bridge cannot be wrapped, the page goes on at once, as before re-signing.
  function watchNextVerification(onVerified) {
    var bridge = window.WeixinJSBridge;
    if (!bridge || typeof bridge.invoke !== 'function') {
      onVerified();
      return;
    }
    var original = bridge.invoke;
    var wrapped = function (name, params, callback) {
      if (name !== 'preVerifyJSAPI') {
        return original.apply(this, arguments);
      }
      bridge.invoke = original;
      return original.call(this, name, params, function (reply) {
        try {
          if (callback) {
            callback(reply);
          }
        } finally {
          onVerified();
        }
      });
    };
    try {
      bridge.invoke = wrapped;
    } catch (ignored) {
      // A read-only bridge is handled below.
    }
    if (bridge.invoke !== wrapped) {
      onVerified();
    }
  }

  function startConfigTimer() {
    clearTimeout(readyTimer);
    readyTimer = setTimeout(function () {
      if (!isReady && !configFailed) {
        isAdding = false;
        pendingTap = false;
        setButtonEnabled(false);
        setState('config-failed', 'config_timeout', 'config-timeout');
      }
    }, CONFIG_TIMEOUT_MS);
  }

  function configure(isResign) {
    var url = currentSigningUrl();
    signedUrl = url;
    configFailed = false;
    if (isResign) {
      // Calls made while Weixin verifies the new signature are refused, so taps wait.
      isReady = false;
      isResigning = true;
    }
    if (!isAdding) {
      setState('configuring', 'configuring');
    }
    getJson(
      configUrl + '?url=' + encodeURIComponent(url),
      function (config) {
        if (url !== signedUrl) {
          return;
        }
        startConfigTimer();
        if (isResign) {
          watchNextVerification(onReady);
        }
        sdk.config({
          debug: false,
          appId: config.appId,
          timestamp: config.timestamp,
          nonceStr: config.nonceStr,
          signature: config.signature,
          jsApiList: config.jsApiList
        });
      },
      function (reason) {
        if (url !== signedUrl) {
          return;
        }
        configFailed = true;
        isResigning = false;
        isAdding = false;
        pendingTap = false;
        setButtonEnabled(false);
        setState('config-failed', 'network', 'network', 'jssdk config: ' + reason);
      }
    );
  }

  function finishAdding(state, messageKey, errorCode, errorDetail) {
    isAdding = false;
    setState(state, messageKey, errorCode, errorDetail);
    setButtonEnabled(isReady && !configFailed);
  }

  function requestCardExt() {
    var url = cardExtUrl + (outerStr ? '?outer_str=' + encodeURIComponent(outerStr) : '');
    getJson(
      url,
      function (data) {
        // A failed or timed-out wx.config ended this add while the list loaded, and
        // its message stays on the page.
        if (!isAdding) {
          return;
        }
        // Weixin rejects wx.addCard before it has verified wx.config. The page may have
        // begun signing a new URL while the list loaded, so onReady requests it again.
        if (!isReady) {
          pendingTap = true;
          return;
        }
        sdk.addCard({
          cardList: data.cardList,
          success: function () {
            finishAdding('added', 'added');
          },
          cancel: function () {
            finishAdding('cancelled', 'cancelled');
          },
          fail: function (result) {
            finishAdding('failed', 'failed', 'add-failed', (result && result.errMsg) || '');
          }
        });
      },
      function (reason) {
        if (isAdding) {
          finishAdding('failed', 'network', 'network', 'card-ext: ' + reason);
        }
      }
    );
  }

  function addCards() {
    if (configFailed || isAdding || !(isReady || isResigning)) {
      return;
    }
    isAdding = true;
    setButtonEnabled(false);
    setState('adding', 'adding');
    if (isResigning) {
      // The tap came while the page re-signs its new URL; onReady sends it.
      pendingTap = true;
      return;
    }
    requestCardExt();
  }

  // Android checks the current URL, so a page that changes its URL with the History API
  // must sign again. iOS keeps checking the entry URL, so nothing changes there.
  function watchUrlChanges() {
    if (isIOS || !window.history) {
      return;
    }
    function onUrlChange() {
      if (sdk && !configFailed && currentSigningUrl() !== signedUrl) {
        configure(true);
      }
    }
    ['pushState', 'replaceState'].forEach(function (name) {
      var original = history[name];
      if (typeof original !== 'function') {
        return;
      }
      history[name] = function () {
        var result = original.apply(this, arguments);
        onUrlChange();
        return result;
      };
    });
    window.addEventListener('popstate', onUrlChange);
  }

  if (button) {
    button.addEventListener('click', addCards);
  }
  setState('configuring', 'configuring');
  loadSdk(
    jssdkUrl,
    function (loaded) {
      sdk = loaded;
      sdk.ready(onReady);
      sdk.error(onConfigError);
      watchUrlChanges();
      configure(false);
    },
    function (reason) {
      setState('sdk-failed', 'sdk_failed', 'sdk-load', reason);
    }
  );
})();
