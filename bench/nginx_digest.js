// HTTP Digest (RFC 7616, MD5, qop=auth) for nginx via njs, as Cloud Manager answers it:
// realm "MMS Public API", no opaque, stale=true for an expired nonce. Nonces are stateless
// (issue time + HMAC), so any worker can check any nonce. `delayed` is the `wan` port's
// content handler: it waits DELAY_MS on every request, 401s included, then answers.
// The bench (bulkbench/nginx.py) substitutes the @...@ values when it writes the config;
// this file is used by the benchmark only.
var crypto = require('crypto');

var REALM = 'MMS Public API';
var USER = @USER@;
var PASS = @PASS@;
var SECRET = @SECRET@;
var AUTH = @AUTH@;
var DELAY_MS = @DELAY_MS@;
var TTL_S = 300;
var PAIR = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))/g;

function md5(s) {
    return crypto.createHash('md5').update(s).digest('hex');
}

function sign(t) {
    return crypto.createHmac('sha256', SECRET).update(t).digest('hex').slice(0, 32);
}

function params(text) {
    var out = {};
    var m;
    PAIR.lastIndex = 0;
    while ((m = PAIR.exec(text)) !== null) {
        out[m[1].toLowerCase()] = (m[2] !== undefined) ? m[2].replace(/\\(.)/g, '$1') : m[3];
    }
    return out;
}

function verdict(r) {
    var h = r.headersIn.Authorization;
    if (!h || h.slice(0, 7).toLowerCase() !== 'digest ') {
        return 'challenge';
    }
    var p = params(h.slice(7));
    if (p.username !== USER || p.realm !== REALM || p.qop !== 'auth' || !p.nonce || !p.nc
        || !p.cnonce || !p.response || p.uri !== r.variables.request_uri) {
        return 'challenge';
    }
    if (p.algorithm && p.algorithm.toUpperCase() !== 'MD5') {
        return 'challenge';
    }
    var dot = p.nonce.indexOf('n');
    var issued = p.nonce.slice(0, dot);
    if (dot < 1 || sign(issued) !== p.nonce.slice(dot + 1)) {
        return 'challenge';
    }
    var ha1 = md5(USER + ':' + REALM + ':' + PASS);
    var ha2 = md5(r.method + ':' + p.uri);
    var expected = md5(ha1 + ':' + p.nonce + ':' + p.nc + ':' + p.cnonce + ':auth:' + ha2);
    if (expected !== p.response.toLowerCase()) {
        return 'challenge';
    }
    if (Date.now() / 1000 - Number(issued) > TTL_S) {
        return 'stale';
    }
    return 'ok';
}

function header(stale) {
    var issued = String(Math.floor(Date.now() / 1000));
    return 'Digest realm="' + REALM + '", domain="", nonce="' + issued + 'n' + sign(issued)
        + '", algorithm=MD5, qop="auth", stale=' + (stale ? 'true' : 'false');
}

function challenge(r) {
    return header(r.variables.digest_verdict === 'stale');
}

function delayed(r) {
    setTimeout(function () {
        var v = AUTH ? verdict(r) : 'ok';
        if (v !== 'ok') {
            r.headersOut['WWW-Authenticate'] = header(v === 'stale');
            r.return(401);
            return;
        }
        r.internalRedirect(r.uri.endsWith('/download') ? '@download' : '@listing');
    }, DELAY_MS);
}

export default {verdict, challenge, delayed};
