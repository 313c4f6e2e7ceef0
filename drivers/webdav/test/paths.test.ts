import { describe, expect, it } from "vitest";
import { digestParams } from "../src/auth.js";
import { Paths } from "../src/paths.js";

const multistatus = (hrefs: Array<[string, boolean]>) =>
  `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">${hrefs
    .map(
      ([href, collection]) =>
        `<d:response><d:href>${href}</d:href><d:propstat><d:prop><d:resourcetype>${collection ? "<d:collection/>" : ""}</d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`,
    )
    .join("")}</d:multistatus>`;

describe("keys to URLs", () => {
  const paths = new Paths("https://dav.example.com/remote.php/dav/files/argo");

  it("keeps the base path, with one trailing slash", () => {
    expect(paths.base.href).toBe("https://dav.example.com/remote.php/dav/files/argo/");
    expect(paths.url("a/b.txt").href).toBe(
      "https://dav.example.com/remote.php/dav/files/argo/a/b.txt",
    );
    expect(paths.url("a/b", true).href).toBe(
      "https://dav.example.com/remote.php/dav/files/argo/a/b/",
    );
  });

  it("encodes encoded dots, backslashes and URL syntax as literal names", () => {
    const cases: Record<string, string> = {
      "%2e%2e/x": "%252e%252e/x",
      "..%2f..%2fx": "..%252f..%252fx",
      "a\\..\\..\\b": "a%5C..%5C..%5Cb",
      "a\\\\b": "a%5C%5Cb",
      "..\\\\..\\\\..\\\\b": "..%5C%5C..%5C%5C..%5C%5Cb",
      "q?x=1#f": "q%3Fx%3D1%23f",
      "sp ace/ünï+(1)!*'": "sp%20ace/%C3%BCn%C3%AF%2B%281%29%21%2A%27",
      "%2E%2E%5C": "%252E%252E%255C",
    };
    for (const [key, encoded] of Object.entries(cases)) {
      expect(paths.url(key).pathname).toBe(`/remote.php/dav/files/argo/${encoded}`);
    }
  });
});

describe("PROPFIND answers to folder entries", () => {
  const paths = new Paths("http://127.0.0.1:8080/dav/base%20dir/");

  it("lists the children of a folder and leaves out the folder itself", async () => {
    const entries = await paths.children(
      "run/out",
      multistatus([
        ["/dav/base%20dir/run/out/", true],
        ["/dav/base%20dir/run/out/a.txt", false],
        ["/dav/base%20dir/run/out/sub/", true],
        ["http://127.0.0.1:8080/dav/base%20dir/run/out/abs%C3%BC.bin", false],
        ["/dav/base dir/run/out/unencoded name", false],
        ["/dav/base%20dir/run/out/%7Etilde", false],
      ]),
    );
    expect(entries).toEqual([
      { name: "a.txt", kind: "file" },
      { name: "sub", kind: "directory" },
      { name: "absü.bin", kind: "file" },
      { name: "unencoded name", kind: "file" },
      { name: "~tilde", kind: "file" },
    ]);
  });

  it("ignores entries outside the folder, deeper ones and names that are not names", async () => {
    const entries = await paths.children(
      "run",
      multistatus([
        ["/dav/base%20dir/run/deeper/x.txt", false],
        ["/dav/base%20dir/other/x.txt", false],
        ["/dav/elsewhere/run/x.txt", false],
        ["/dav/base%20dir/run/..", false],
        ["/dav/base%20dir/run/a%2Fb", false],
        ["/dav/base%20dir/run/bad%zz", false],
        ["/dav/base%20dir/run/kept", false],
      ]),
    );
    expect(entries).toEqual([{ name: "kept", kind: "file" }]);
  });

  it("reads a literal name with an encoded dot or backslash as that name", async () => {
    const entries = await paths.children(
      "",
      multistatus([
        ["/dav/base%20dir/%252e%252e", false],
        ["/dav/base%20dir/a%5C..%5Cb", false],
        ["/dav/base%20dir/a\\b", false],
      ]),
    );
    expect(entries.map((entry) => entry.name)).toEqual(["%2e%2e", "a\\..\\b", "a\\b"]);
  });

  it("tells a collection from a file in a Depth 0 answer", async () => {
    expect(await paths.kind(multistatus([["/dav/base%20dir/x/", true]]))).toBe("directory");
    expect(await paths.kind(multistatus([["/dav/base%20dir/x", false]]))).toBe("file");
    await expect(paths.kind("<html>not xml</html>")).rejects.toThrow(/multistatus/);
  });
});

describe("digest challenges", () => {
  it("reads quoted values with commas, tokens and stale", () => {
    expect(
      digestParams(
        'Digest realm="dav, digest", nonce="abc==", algorithm=MD5, qop="auth,auth-int", stale=TRUE, opaque="x\\"y"',
      ),
    ).toEqual({
      realm: "dav, digest",
      nonce: "abc==",
      algorithm: "MD5",
      qop: "auth,auth-int",
      stale: "TRUE",
      opaque: 'x"y',
    });
    expect(digestParams('Basic realm="dav"')).toBeUndefined();
  });
});
