// Preloaded into the plugin process (node --import) by the host name test:
// resolves the name "azurite" to 127.0.0.1, as a Kubernetes Service named
// azurite would resolve in the cluster, without touching the machine's
// resolver configuration.
import dns from "node:dns";

const lookup = dns.lookup;
dns.lookup = (hostname, options, callback) => {
  const done = typeof options === "function" ? options : callback;
  const opts = typeof options === "function" || options === undefined ? {} : options;
  if (hostname !== "azurite") return lookup(hostname, options, callback);
  if (typeof opts === "object" && opts.all)
    return process.nextTick(done, null, [{ address: "127.0.0.1", family: 4 }]);
  return process.nextTick(done, null, "127.0.0.1", 4);
};
