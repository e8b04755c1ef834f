import type { Info } from "../api.js";

/** What every page gets: the signed-in key's info, the element to draw into, and navigation. */
export interface Ctx {
  info: Info;
  main: HTMLElement;
  navigate: (hash: string) => void;
}

/** Draws the page (with `arg`, the part of the hash after the page's name) and returns what undoes it. */
export type Page = (ctx: Ctx, arg: string) => Promise<(() => void) | void>;
