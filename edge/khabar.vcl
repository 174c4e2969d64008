# khabar's edge: the readers' one address in front of render and search.
#
# Included by a top-level file that declares, for its environment (make run,
# compose, varnishtest): the backends, `acl khabar_purgers`, and the subs
# `khabar_pick_render`, `khabar_pick_search`, `khabar_pick_self` (set
# req.backend_hint; "self" is this same varnishd, reached on its listen socket
# named `khabar_self`, a Unix socket only this varnishd can write to) and
# `khabar_check_purge_token` (answers 403 unless the purge carries the token).
#
# Readers choose every header, every query string and the Host: nothing they
# send is trusted. The assembly's inner requests are known by the socket they
# arrive on, never by a header (a reader's `X-Khabar-Assembly: inner` asked
# for the shell, assembled again on every request); query parameters render
# does not read, and Host, are not let split the cache (each new variant was
# a miss: a render request and an assembly); methods other than GET and HEAD
# are answered here, not passed on; surrogate keys stay between render and
# the edge.
#
# - /search, /v1/search and search's own static files go to search, uncached
#   (hit lists change with every publication); everything else to render.
#   `khabar_pick_search` may name a director over several search processes
#   (one per search node): a search that finds its process dead before the
#   probe does is tried again on the next one, so readers never see that.
# - Render is asked for ESI page shells (Surrogate-Capability); a shell names
#   its fragments with <esi:include>, each cached on its own, so a change
#   fetches again only the fragments that show the changed article.
# - Render's Surrogate-Key becomes xkey's index: `PURGE` with
#   `xkey-purge: article:<id> section:<slug> home` drops every object
#   (page shell, fragment) that names one of them, graced copies included.
# - Assembled pages are cached too. ESI assembles a page on every delivery,
#   and each include costs the edge a sub-request and a write to the reader's
#   socket (a home page has dozens). So a reader's page (home, a section, an
#   article) is asked of this same varnishd (`khabar_pick_self`, marked
#   X-Khabar-Assembly: inner), which assembles it from the cached shell and
#   fragments; the assembled copy is cached under its own hash, with the
#   shell's surrogate keys, which name everything the page shows (render puts
#   a whole page's keys on its shell). A purge drops both layers; the next
#   reader's page is assembled again from the fragments still cached.
# - Grace: while an origin is healthy, stale objects are served for a few
#   seconds at most; when its probe says it is down, the last good copy is
#   served for up to a day. An origin can be up and still fail every page (its
#   probe asks for a static file, and a page needs its stores): a 5xx, or no
#   answer, for something the edge still holds is abandoned, so the copy stays
#   cached, and the request starts again allowed the whole day's grace. Only a
#   copy that is still in the cache can be served so: a purge removes every
#   copy, so a withdrawn page is never one. Not-found and withdrawn answers are
#   cached briefly and never graced, so a stale page never outlives a withdrawal.
# - Misses are rationed per client (vsthrottle): every unknown article id and
#   every listing page number is a new object, a render request and an
#   assembly, and can push readers' pages out of the cache. A client that
#   spends its misses, or its errors (4xx answers the edge had to fetch), is
#   answered 429 with Retry-After for anything the edge does not hold; what it
#   holds is still served. The client is its address alone (`client.ip`): any
#   header naming another (X-Forwarded-For, Forwarded...) is the reader's word.
#   An IPv6 client is its /64, which one subscriber holds whole: counted by
#   address, it could take a fresh one for every request.
#   The limits come from the top-level file's vcl_init (`khabar_throttle_*`
#   globals of vmod var; 0 turns a limit off), with the defaults below.

import std;
import var;
import vsthrottle;
import xkey;

sub vcl_recv {
    if (req.restarts == 0) {
        # Set by vcl_synth alone, on the restart after an origin failed: never a reader's.
        unset req.http.X-Khabar-Stale;
    }
    if (req.url ~ "^.{8193}") {
        # The origins' limit too (khabar_shared.uri_limit): answered, never a reset. varnishd
        # reads a request up to http_req_size (raised for this, see its command line).
        return (synth(414, "URI Too Long"));
    }
    if (req.method == "PURGE") {
        call khabar_purge;
    }
    # Set by this file alone: inner is where the request arrived, not what it says.
    unset req.http.X-Khabar-Assembly;
    if (local.socket == "khabar_self") {
        set req.http.X-Khabar-Assembly = "inner";
    } elsif (std.strstr(req.http.X-Forwarded-For, ",")) {
        # The edge is the readers' first hop: what a client says it forwarded is not believed.
        # varnishd has already set the header to the client's address, after ", " when the
        # client sent one (its own, all collected): only then is there anything to drop.
        # Setting it on every request turned client.ip into text again for each one.
        set req.http.X-Forwarded-For = client.ip;
    }
    if (req.method != "GET" && req.method != "HEAD") {
        # Neither origin takes anything else from readers: answered here, at no origin's cost.
        return (synth(405, "Method Not Allowed"));
    }
    # Both origins may answer with ESI: render's page shells, search's page
    # (the site's header and footer come from render). `set` replaces any the reader sent.
    set req.http.Surrogate-Capability = {"khabar="ESI/1.0""};
    # Every request, hit or miss, passes here: each regex match costs an allocation and a
    # match, so the hit path makes few (one for both of search's kinds of URL; literal
    # substrings by std.strstr; search's regex only for a URL that names search at all).
    if (std.strstr(req.url, "search") && req.url ~ "^/((v1/)?search([/?]|$)|static/search\.)") {
        call khabar_pick_search;
        if (req.url !~ "^/static/") {
            return (pass);
        }
    } else {
        call khabar_pick_render;
        call khabar_normalize_query;
        call khabar_normalize_accept;
    }
    if (req.http.X-Khabar-Stale) {
        # The origin has just failed this request: any copy still in grace beats an error.
        set req.grace = 24h;
    } elsif (std.healthy(req.backend_hint)) {
        set req.grace = 5s;
    }
    # Pages are the same for every reader: no cookie or credential splits the cache.
    unset req.http.Cookie;
    unset req.http.Authorization;
    if (!req.http.X-Khabar-Assembly && req.esi_level == 0
        && req.url ~ "^/(articles/|category/|$)") {
        # A reader's page: its assembled copy, assembled by this varnishd on a miss.
        set req.http.X-Khabar-Assembly = "outer";
        call khabar_pick_self;
    }
    return (hash);
}

sub khabar_purge {
    if (client.ip !~ khabar_purgers) {
        return (synth(403, "Forbidden"));
    }
    call khabar_check_purge_token;
    if (!req.http.xkey-purge) {
        return (synth(400, "Name the surrogate keys in xkey-purge"));
    }
    # Fetches that start before this purge and end after it are not kept (vcl_backend_response,
    # khabar_recheck_purge). A little ahead of now: `now` is when this request began, the
    # purge is a moment later. Never moved back by a purge that began before another.
    if (std.real(var.global_get("khabar_purged_at"), 0.0) < std.time2real(now, 0.0) + 0.01) {
        var.global_set("khabar_purged_at", "" + (std.time2real(now, 0.0) + 0.01));
    }
    set req.http.X-Purged = xkey.purge(req.http.xkey-purge);
    return (synth(200, "Purged " + req.http.X-Purged));
}

sub khabar_normalize_query {
    # Render reads three query parameters: page (a listing's), heading (a
    # card's) and lang (the header's and footer's). Any other, or any other
    # spelling, would only make another copy of the same page.
    if (!std.strstr(req.url, "?")) {
        return;
    }
    set req.http.X-Khabar-Path = regsub(req.url, "\?.*$", "");
    if (req.url ~ "^/(category|fragments/section)/[^/?]+\?(.*&)?page=[1-9][0-9]{0,4}(&|$)") {
        set req.url = req.http.X-Khabar-Path + "?page="
            + regsub(req.url, "^.*[?&]page=([1-9][0-9]{0,4})(&.*)?$", "\1");
    } elsif (req.url ~ "^/fragments/card/[^/?]+\?(.*&)?heading=h2(&|$)") {
        set req.url = req.http.X-Khabar-Path + "?heading=h2";
    } elsif (req.url ~ "^/fragments/(header|footer)\?(.*&)?lang=[a-z]{2}(&|$)") {
        set req.url = req.http.X-Khabar-Path + "?lang="
            + regsub(req.url, "^.*[?&]lang=([a-z]{2})(&.*)?$", "\1");
    } else {
        set req.url = req.http.X-Khabar-Path;
    }
    unset req.http.X-Khabar-Path;
}

sub khabar_normalize_accept {
    # Render answers errors as HTML pages or problem documents by Accept: two
    # variants at most, whatever browsers send (render's rule: text/html or not).
    if (std.strstr(req.http.Accept, "text/html")) {
        set req.http.Accept = "text/html";
    } else {
        set req.http.Accept = "application/problem+json";
    }
}

sub vcl_hash {
    if (req.http.X-Khabar-Assembly == "outer") {
        hash_data("assembled");
    }
    # The URL alone: render's answers do not depend on the Host a reader names.
    hash_data(req.url);
    return (lookup);
}

sub vcl_miss {
    if (req.http.X-Khabar-Stale) {
        # The origin failed and no copy is left (never fetched, or purged): the error page.
        return (synth(503, "Service Unavailable"));
    }
    call khabar_throttle_miss;
}

sub khabar_throttle_settings {
    var.set("client_ip", "" + client.ip);
    call khabar_client_key;
    # Task variables (this request's alone), from the globals the top-level file set.
    var.set_int("miss_limit", std.integer(var.global_get("khabar_throttle_miss_limit"), 120));
    var.set_int("error_limit", std.integer(var.global_get("khabar_throttle_error_limit"), 30));
    var.set_duration("period", std.duration(var.global_get("khabar_throttle_period"), 10s));
    var.set_duration("block", std.duration(var.global_get("khabar_throttle_block"), 30s));
}

sub khabar_client_key {
    # var "client_ip" (an address as Varnish writes it) -> var "client": an
    # IPv4 address as it is; an IPv6 address's first four groups (its /64),
    # written out in full: "::" stands for as many zero groups as are missing.
    var.set("client", var.get("client_ip"));
    if (var.get("client") !~ ":" || var.get("client") ~ "\.") {
        return;
    }
    var.set("client", regsub(regsub(var.get("client"), "^::", "0::"), "::$", "::0"));
    if (var.get("client") ~ "::" && var.get("client") !~ "^([^:]*:){7}") {
        var.set("client", regsub(var.get("client"), "::", ":0::"));
    }
    if (var.get("client") ~ "::" && var.get("client") !~ "^([^:]*:){7}") {
        var.set("client", regsub(var.get("client"), "::", ":0::"));
    }
    if (var.get("client") ~ "::" && var.get("client") !~ "^([^:]*:){7}") {
        var.set("client", regsub(var.get("client"), "::", ":0::"));
    }
    if (var.get("client") ~ "::" && var.get("client") !~ "^([^:]*:){7}") {
        var.set("client", regsub(var.get("client"), "::", ":0::"));
    }
    if (var.get("client") ~ "::" && var.get("client") !~ "^([^:]*:){7}") {
        var.set("client", regsub(var.get("client"), "::", ":0::"));
    }
    var.set("client", regsub(var.get("client"), "::", ":0:"));
    var.set("client", regsub(var.get("client"), "^([^:]*):([^:]*):([^:]*):([^:]*):.*$",
        "\1:\2:\3:\4::/64"));
}

sub khabar_throttle_miss {
    # A reader's own request only: an assembly's inner requests and its
    # includes are the one page that reader asked for, counted once; the
    # restart after a failed origin was counted on its first pass.
    if (req.http.X-Khabar-Assembly == "inner" || req.esi_level > 0 || req.restarts > 0) {
        return;
    }
    call khabar_throttle_settings;
    var.set_duration("retry", 0s);
    if (var.get_int("error_limit") > 0) {
        # Errors are counted after their fetch (khabar_throttle_error), which a spent
        # bucket never reaches: asking once more here is what starts the block, or
        # tokens would come back one by one and a scanner would go on at the refill rate.
        if (vsthrottle.remaining("error:" + var.get("client"), var.get_int("error_limit"),
                var.get_duration("period"), var.get_duration("block")) <= 0
            && vsthrottle.is_denied("error:" + var.get("client"), var.get_int("error_limit"),
                var.get_duration("period"), var.get_duration("block"))) {
            std.log("khabar_throttle: error limit reached by " + var.get("client"));
        }
        var.set_duration("retry", vsthrottle.blocked("error:" + var.get("client"),
            var.get_int("error_limit"), var.get_duration("period"), var.get_duration("block")));
        if (var.get_duration("retry") == 0s
            && vsthrottle.remaining("error:" + var.get("client"), var.get_int("error_limit"),
                var.get_duration("period"), var.get_duration("block")) <= 0) {
            var.set_duration("retry", var.get_duration("period"));
        }
    }
    if (var.get_duration("retry") == 0s && var.get_int("miss_limit") > 0
        && vsthrottle.is_denied("miss:" + var.get("client"), var.get_int("miss_limit"),
            var.get_duration("period"), var.get_duration("block"))) {
        var.set_duration("retry", vsthrottle.blocked("miss:" + var.get("client"),
            var.get_int("miss_limit"), var.get_duration("period"), var.get_duration("block")));
        if (var.get_duration("retry") == 0s) {
            var.set_duration("retry", var.get_duration("period"));
        }
    }
    if (var.get_duration("retry") > 0s) {
        return (synth(429, "Too Many Requests"));
    }
}

sub khabar_throttle_error {
    # An error the edge fetched for a reader (an unknown id, a page past the
    # last) spends one of that client's error tokens; once spent, its misses
    # are refused (khabar_throttle_miss). Errors served from the cache cost nothing.
    if (req.http.X-Khabar-Assembly == "inner" || req.esi_level > 0 || obj.hits > 0
        || resp.status < 400 || resp.status >= 500 || resp.status == 429) {
        return;
    }
    call khabar_throttle_settings;
    if (var.get_int("error_limit") > 0
        && vsthrottle.is_denied("error:" + var.get("client"), var.get_int("error_limit"),
            var.get_duration("period"), var.get_duration("block"))) {
        std.log("khabar_throttle: error limit reached by " + var.get("client"));
    }
}

sub vcl_backend_fetch {
    # The inner request is known by its socket; origins have no use for the marks.
    unset bereq.http.X-Khabar-Assembly;
    unset bereq.http.X-Khabar-Stale;
}

sub khabar_keep_last_good {
    # A failed fetch of something cacheable: abandoned, so that what the cache
    # holds stays (a background fetch's reader already has it; any other
    # request starts again in vcl_synth, looking for a graced copy).
    if (bereq.is_bgfetch) {
        return (abandon);
    }
    if (!bereq.uncacheable && (bereq.method == "GET" || bereq.method == "HEAD")) {
        return (abandon);
    }
}

sub vcl_backend_response {
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
    if (beresp.http.Surrogate-Control ~ "ESI/1\.0") {
        unset beresp.http.Surrogate-Control;
        set beresp.do_esi = true;
    }
    if (beresp.status >= 500) {
        # Keep serving the last good copy rather than replacing it with an error.
        call khabar_keep_last_good;
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
    } elsif (beresp.status == 404 || beresp.status == 410) {
        set beresp.ttl = 5s;
        set beresp.grace = 0s;
        set beresp.keep = 0s;
    } else {
        set beresp.grace = 24h;
        set beresp.keep = 1h;
    }
    if (std.real(var.global_get("khabar_purged_at"), 0.0) >= std.time2real(bereq.time, 0.0)) {
        # A purge came while this was fetched: the answer may have been read
        # before the change that purge is for (a story withdrawn meanwhile),
        # and xkey drops an object only once it is in the cache. It goes to
        # the readers who asked for it, not into the cache; the next reader's
        # request fetches again.
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        set beresp.keep = 0s;
    }
    if (!beresp.uncacheable) {
        call khabar_mark_fetch;
    }
    return (deliver);
}

sub khabar_mark_fetch {
    # The check above sees only purges that came before the head: one that comes
    # between the head and the object's entry into the cache finds nothing to drop
    # (xkey passes over a busy object and indexes it only once it is in; Varnish does
    # not stream an ESI object, a page shell or a listing, into the cache, so it stays
    # busy until its whole body is in). So the object gets a key of its own and its
    # fetch's start, and the request that fetched it looks again once it is in
    # (khabar_recheck_purge).
    set beresp.http.X-Khabar-Fetch = bereq.xid + " " + std.time2real(bereq.time, 0.0);
    if (bereq.is_bgfetch) {
        # No request waits for a background fetch: its first reader looks instead.
        set beresp.http.X-Khabar-Bgfetch = "1";
    }
    set beresp.http.xkey = beresp.http.xkey + " khabar-fetch:" + bereq.xid;
}

sub vcl_backend_error {
    # A search process that does not answer: the director picks the next one.
    # Searches only: they change nothing, and render's pages have grace instead.
    if (bereq.retries < 3 && (bereq.method == "GET" || bereq.method == "HEAD")
        && (bereq.url ~ "^/(v1/)?search([/?]|$)" || bereq.url ~ "^/static/search\.")) {
        return (retry);
    }
    call khabar_keep_last_good;
    # An origin that does not answer: the site's own "try again" page.
    set beresp.http.Content-Type = "text/html; charset=utf-8";
    set beresp.http.Retry-After = "5";
    set beresp.http.Cache-Control = "no-store";
    call khabar_unavailable_page;
    return (deliver);
}

sub khabar_unavailable_page {
    synthetic({"<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>الخدمة غير متاحة مؤقتاً | Service unavailable</title><link rel="stylesheet" href="/static/site.css"></head>
<body><main id="main" class="error-page"><h1>الخدمة غير متاحة مؤقتاً</h1><p>نعتذر، حاول مرة أخرى بعد قليل. <a href="/">الرئيسية</a></p>
<p lang="en" dir="ltr">The site is briefly unavailable; please try again in a moment. <a href="/">Home</a></p></main></body></html>
"});
}

sub khabar_recheck_purge {
    # The object is in the cache now (a miss is delivered once it is, a background
    # fetch's object is found by a hit): a purge since its fetch began may have
    # missed it, and it may show what that purge was for. Dropped, by its own key;
    # this reader's request began before that purge, and may still be shown it.
    # Only a miss's own reader, or a background fetch's first reader (its first hit), looks:
    # later readers would see purges that came after the object was in, and drop it for them.
    if (resp.http.X-Khabar-Fetch
        && (obj.hits == 0 || (obj.hits == 1 && resp.http.X-Khabar-Bgfetch))
        && std.real(var.global_get("khabar_purged_at"), 0.0)
            >= std.real(regsub(resp.http.X-Khabar-Fetch, "^[0-9]+ ([0-9.]+).*$", "\1"), 0.0)) {
        set req.http.X-Khabar-Dropped = xkey.purge("khabar-fetch:"
            + regsub(resp.http.X-Khabar-Fetch, " .*$", ""));
        std.log("khabar_recheck_purge: dropped " + req.http.X-Khabar-Dropped + " " + req.url
            + " (" + resp.status + ") fetched from " + resp.http.X-Khabar-Fetch
            + ", purge at " + var.global_get("khabar_purged_at"));
        unset req.http.X-Khabar-Dropped;
    }
    unset resp.http.X-Khabar-Fetch;
    unset resp.http.X-Khabar-Bgfetch;
}

sub vcl_deliver {
    call khabar_recheck_purge;
    if (req.esi_level > 0 && resp.status != 200) {
        # A fragment that is gone (its article withdrawn meanwhile) leaves a gap, not an error page.
        return (synth(204, "No Content"));
    }
    unset resp.http.xkey;
    call khabar_throttle_error;
    if (req.esi_level == 0 && resp.do_esi) {
        # A shell's validators say nothing of the fragments assembled into it:
        # without them a browser's revalidation gets the whole page, never a
        # 304 for a page whose fragments changed.
        unset resp.http.ETag;
        unset resp.http.Last-Modified;
    }
    if (req.http.X-Khabar-Assembly == "inner") {
        # To the assembled layer: the shell's Cache-Control and Surrogate-Key as they are.
        return (deliver);
    }
    # The keys name what a page shows for purges; readers have no use for them.
    unset resp.http.Surrogate-Key;
    if (req.esi_level == 0
        && (std.strstr(resp.http.Content-Type, "html") || std.strstr(resp.http.Content-Type, "xml"))) {
        # The edge is purged when a story changes; a browser is not. Readers'
        # browsers ask again each time (cheaply: the edge answers from memory).
        set resp.http.Cache-Control = "no-cache";
    }
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}

sub vcl_synth {
    if (resp.status == 503 && !req.http.X-Khabar-Stale
        && (req.method == "GET" || req.method == "HEAD")) {
        # An abandoned fetch (khabar_keep_last_good): once more, with the long grace.
        set req.http.X-Khabar-Stale = "1";
        return (restart);
    }
    if (req.esi_level > 0) {
        synthetic("");
        return (deliver);
    }
    if (resp.status == 503) {
        set resp.http.Content-Type = "text/html; charset=utf-8";
        set resp.http.Retry-After = "5";
        set resp.http.Cache-Control = "no-store";
        call khabar_unavailable_page;
        return (deliver);
    }
    if (resp.status == 429) {
        call khabar_too_many;
        return (deliver);
    }
    if (resp.status == 405) {
        # RFC 9110 (15.5.6): a 405 names the methods the target takes.
        set resp.http.Allow = "GET, HEAD";
    }
    if (resp.status == 405 || resp.status == 414) {
        # A reader's or a program's mistake, answered as every origin answers it:
        # an RFC 9457 problem document (khabar_shared.problems, uri_limit).
        set resp.http.Content-Type = "application/problem+json";
        set resp.http.Cache-Control = "no-store";
        if (resp.status == 414) {
            synthetic({"{"type":"about:blank","title":"URI Too Long","status":414,"detail":"The request target is longer than 8192 characters.""} + "}");
        } else {
            synthetic({"{"type":"about:blank","title":"Method Not Allowed","status":405,"detail":"The site answers GET and HEAD only.""} + "}");
        }
        return (deliver);
    }
    set resp.http.Content-Type = "text/plain; charset=utf-8";
    synthetic(resp.reason + {"
"});
    return (deliver);
}

sub khabar_too_many {
    # Whole seconds, rounded up: when the client's next miss is let through.
    set resp.http.Retry-After = std.integer(real=std.real(duration=var.get_duration("retry"))
        + 0.999, fallback=10);
    set resp.http.Cache-Control = "no-store";
    if (req.url !~ "^/(fragments|v1|static)/" && req.http.Accept ~ "text/html") {
        # A reader's page, as render answers its errors (text/html, a page's path).
        set resp.http.Content-Type = "text/html; charset=utf-8";
        synthetic({"<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>طلبات كثيرة | Too many requests</title><link rel="stylesheet" href="/static/site.css"></head>
<body><main id="main" class="error-page"><h1>طلبات كثيرة في وقت قصير</h1><p>نعتذر، حاول مرة أخرى بعد "} + resp.http.Retry-After + {" ثانية. <a href="/">الرئيسية</a></p>
<p lang="en" dir="ltr">Too many requests in a short time; please try again in "} + resp.http.Retry-After + {" seconds. <a href="/">Home</a></p></main></body></html>
"});
    } else {
        set resp.http.Content-Type = "application/problem+json";
        synthetic({"{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"Too many requests for pages the edge does not hold; retry after "} + resp.http.Retry-After + {" seconds.""} + "}");
    }
}
