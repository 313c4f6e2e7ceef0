// Preloaded into the plugin process (node --import) by the virtual-hosted
// addressing test: resolves every *.localhost name to 127.0.0.1, as RFC 6761
// and systemd-resolved do but this machine's resolver does not, so that
// bucket.localhost reaches the local moto server.
import dns from "node:dns";

const lookup = dns.lookup;
dns.lookup = (hostname, options, callback) => {
  const done = typeof options === "function" ? options : callback;
  const opts = typeof options === "function" || options === undefined ? {} : options;
  if (!hostname.endsWith(".localhost")) return lookup(hostname, options, callback);
  const family = typeof opts === "number" ? opts : opts.family;
  if (typeof opts === "object" && opts.all)
    return process.nextTick(done, null, [{ address: "127.0.0.1", family: 4 }]);
  if (family === 6) return process.nextTick(done, null, "::1", 6);
  return process.nextTick(done, null, "127.0.0.1", 4);
};
