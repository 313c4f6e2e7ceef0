import {
  type Document,
  isMap,
  isScalar,
  type Node,
  parseAllDocuments,
  parseDocument,
  type Scalar,
  YAMLParseError,
} from "yaml";

/** 1-based, as editors and compilers print them. */
export interface Position {
  line: number;
  col: number;
}

const PARSE_OPTIONS = { uniqueKeys: true, maxAliasCount: 50, prettyErrors: false } as const;

/** Where each line of a text starts, to turn offsets into lines and columns. */
class Lines {
  readonly starts: number[] = [0];

  constructor(text: string) {
    for (let index = text.indexOf("\n"); index >= 0; index = text.indexOf("\n", index + 1)) {
      this.starts.push(index + 1);
    }
  }

  position(offset: number): Position {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if ((this.starts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, col: offset - (this.starts[low] ?? 0) + 1 };
  }
}

/**
 * YAML text and where each of its characters is in a file. A file is one;
 * the string of a `configuration: |` block, or a ConfigMap's
 * `artifactRepository: |`, is another one inside it, so problems found in a
 * configuration are reported at the file's line and column.
 */
export class SourceText {
  private readonly lines: Lines;

  private constructor(
    readonly text: string,
    private readonly toFile: (offset: number) => Position,
  ) {
    this.lines = new Lines(text);
  }

  static ofFile(text: string): SourceText {
    const lines = new Lines(text);
    return new SourceText(text, (offset) => lines.position(offset));
  }

  position(offset: number): Position {
    return this.toFile(Math.max(0, Math.min(offset, this.text.length)));
  }

  positionOf(node: Node | null | undefined): Position {
    return this.position(node?.range?.[0] ?? 0);
  }

  /** The same text with some characters replaced; `transform` must keep every offset (the length). */
  masked(transform: (text: string) => string): SourceText {
    const text = transform(this.text);
    if (text.length !== this.text.length) throw new Error("a mask must keep the text's length");
    return new SourceText(text, this.toFile);
  }

  /** Every YAML document of this text. */
  documents(): Document.Parsed[] {
    return parseAllDocuments(this.text, PARSE_OPTIONS) as Document.Parsed[];
  }

  /** One YAML document; its `errors` say what is not YAML. */
  document(): Document.Parsed {
    return parseDocument(this.text, PARSE_OPTIONS);
  }

  /** Where a parse error starts. */
  errorPosition(error: YAMLParseError): Position {
    return this.position(error.pos[0]);
  }

  /**
   * The string value of `scalar` (found in this text) as a text of its own.
   * Literal blocks (`|`), the way configurations are written, map line for
   * line and column for column; any other style maps to where it starts.
   */
  inner(scalar: Scalar): SourceText {
    const value = String(scalar.value);
    const start = scalar.range?.[0] ?? 0;
    if (scalar.type === "BLOCK_LITERAL") {
      const contentStart = this.text.indexOf("\n", start) + 1;
      const contentLine = this.lines.position(contentStart).line;
      const region = this.text.slice(contentStart, scalar.range?.[1] ?? this.text.length);
      const indent = /^( *)\S/m.exec(region)?.[1]?.length ?? 0;
      const valueLines = new Lines(value);
      const lineStarts = this.lines.starts;
      return new SourceText(value, (offset) => {
        const { line, col } = valueLines.position(offset);
        const outerLine = contentLine + line - 1;
        const lineStart = lineStarts[outerLine - 1] ?? contentStart;
        return this.toFile(lineStart + indent + col - 1);
      });
    }
    const raw = this.text.slice(start, scalar.range?.[1] ?? start);
    const quoted = scalar.type === "QUOTE_DOUBLE" || scalar.type === "QUOTE_SINGLE";
    const oneLine = !raw.includes("\n") && raw.length === value.length + (quoted ? 2 : 0);
    return new SourceText(value, (offset) =>
      this.toFile(oneLine ? start + (quoted ? 1 : 0) + offset : start),
    );
  }
}

/** The value node of `key` in a mapping node, if any. */
export function valueNode(map: Node | null | undefined, key: string): Node | undefined {
  if (!isMap(map)) return undefined;
  for (const pair of map.items) {
    if (isScalar(pair.key) && pair.key.value === key)
      return (pair.value as Node | null) ?? undefined;
  }
  return undefined;
}

/** The key node of `key` in a mapping node, if any. */
export function keyNode(map: Node | null | undefined, key: string): Node | undefined {
  if (!isMap(map)) return undefined;
  for (const pair of map.items) {
    if (isScalar(pair.key) && pair.key.value === key) return pair.key;
  }
  return undefined;
}

/** A string scalar's text, else undefined. */
export function stringValue(node: Node | null | undefined): string | undefined {
  return isScalar(node) && typeof node.value === "string" ? node.value : undefined;
}

export { YAMLParseError };
