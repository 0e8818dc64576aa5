// PDFs in the preview, drawn by PDF.js on canvases in the page, so every platform's webview
// shows them alike. PDF.js loads on first use and parses in its worker; a PDF's scripts and
// forms never run (PDF.js has no scripting without its sandbox, which is not loaded).
import type { PDFDocumentLoadingTask, PDFDocumentProxy } from "pdfjs-dist";

/** Pages drawn at most; the rest are counted. */
export const MOST_PAGES = 30;

let library: Promise<typeof import("pdfjs-dist")> | null = null;

async function pdfjs() {
  library ??= (async () => {
    const pdfjs = await import("pdfjs-dist");
    pdfjs.GlobalWorkerOptions.workerSrc = new URL("pdfjs-dist/build/pdf.worker.min.mjs", import.meta.url).href;
    return pdfjs;
  })();
  return library;
}

/** The document, and the task to destroy when done with it (which ends its worker). */
export async function openPdf(bytes: Uint8Array): Promise<{ doc: PDFDocumentProxy; task: PDFDocumentLoadingTask }> {
  const { getDocument } = await pdfjs();
  const task = getDocument({ data: bytes, enableXfa: false });
  return { doc: await task.promise, task };
}

/** Draws page `number` of `doc` `width` CSS pixels wide into a new canvas. */
export async function drawPage(doc: PDFDocumentProxy, number: number, width: number): Promise<HTMLCanvasElement> {
  const page = await doc.getPage(number);
  const unscaled = page.getViewport({ scale: 1 });
  const scale = width / unscaled.width;
  const ratio = window.devicePixelRatio || 1;
  const viewport = page.getViewport({ scale: scale * ratio });
  const canvas = document.createElement("canvas");
  canvas.width = Math.floor(viewport.width);
  canvas.height = Math.floor(viewport.height);
  canvas.style.width = `${Math.floor(viewport.width / ratio)}px`;
  canvas.dataset.page = String(number);
  await page.render({ canvas, viewport }).promise;
  return canvas;
}
