// report.html in a real browser: Debian's Chromium, headless, driven by playwright-core.
//
// Usage: node tests/browser/check-report.mjs REPORT_HTML SCREENSHOT REFERENCE CHARTS [--update]
//
// Opens the page from its file (file://), and fails (exit 1, every reason on stderr) when
//   - the page logs a console error or throws;
//   - it requests anything but itself (the page must stay one self-contained file);
//   - it does not hold CHARTS charts (inline SVG under <figure>), or one of them is not visible: hidden,
//     smaller than 200 x 100 px, or blank (no drawn shape);
//   - its full-page screenshot (JPEG, quality 70), written to SCREENSHOT, differs from REFERENCE loosely: another width,
//     a height off by more than 15 %, or more than 10 % of a 4 x 24 grid of cells blank in one and drawn in
//     the other. Fonts and anti-aliasing may differ from machine to machine; the layout may not.
// With --update the screenshot replaces the reference instead of being compared with it.
// Prints one JSON line of what it measured on stdout.

import { chromium } from "playwright-core";
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [reportPath, screenshotPath, referencePath, chartsText, mode] = process.argv.slice(2);
if (!reportPath || !screenshotPath || !referencePath || !chartsText) {
  console.error("usage: check-report.mjs REPORT_HTML SCREENSHOT REFERENCE CHARTS [--update]");
  process.exit(2);
}
const expectedCharts = Number(chartsText);
const failures = [];

// The flags this machine's closed network needs: no background fetches, no first-run work.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--font-render-hinting=none",
  ],
  timeout: 60_000,
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  const pageUrl = pathToFileURL(reportPath).href;
  page.on("console", (message) => {
    if (message.type() === "error") failures.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    if (request.url() !== pageUrl) failures.push(`fetched ${request.url()}: the page must be self-contained`);
  });
  await page.goto(pageUrl, { waitUntil: "load", timeout: 60_000 });

  const charts = await page.locator("figure svg").all();
  if (charts.length !== expectedCharts) failures.push(`${charts.length} charts, ${expectedCharts} expected`);
  const seen = [];
  for (const [i, chart] of charts.entries()) {
    const visible = await chart.isVisible();
    if (visible) await chart.scrollIntoViewIfNeeded({ timeout: 5_000 });
    const box = await chart.boundingBox();
    const shapes = await chart.evaluate((svg) => svg.querySelectorAll("path, polyline, rect, line, circle").length);
    const title = await chart.evaluate((svg) => svg.closest("figure")?.querySelector("figcaption")?.textContent ?? "");
    seen.push({ title: title.trim(), width: box?.width, height: box?.height, shapes });
    if (!visible || !box || box.width < 200 || box.height < 100 || shapes === 0) {
      failures.push(`chart ${i + 1} (${title.trim()}) not visible: ${JSON.stringify({ visible, box, shapes })}`);
    }
  }

  const screenshot = await page.screenshot({ fullPage: true, type: "jpeg", quality: 70 });
  writeFileSync(screenshotPath, screenshot);
  let comparison = null;
  if (mode === "--update") {
    writeFileSync(referencePath, screenshot);
  } else {
    comparison = await compare(page, screenshot, readFileSync(referencePath));
    failures.push(...comparison.failures);
  }
  console.log(JSON.stringify({ charts: seen, comparison }));
} finally {
  await browser.close();
}
if (failures.length > 0) {
  for (const failure of failures) console.error(failure);
  process.exit(1);
}

// Compares two JPEGs loosely in the browser's own canvas: sizes, and which cells of a grid are drawn.
async function compare(page, actual, reference) {
  const measured = await page.evaluate(async ([a, b]) => {
    const load = async (base64) => {
      const image = new Image();
      image.src = `data:image/jpeg;base64,${base64}`;
      await image.decode();
      const canvas = document.createElement("canvas");
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext("2d");
      context.drawImage(image, 0, 0);
      return { width: image.width, height: image.height, data: context.getImageData(0, 0, image.width, image.height).data };
    };
    // A cell is drawn when more than 0.5 % of its pixels are not the page's near-white background.
    const cells = ({ width, height, data }, columns, rows) => {
      const drawn = [];
      for (let row = 0; row < rows; row++) {
        for (let column = 0; column < columns; column++) {
          const [x0, x1] = [Math.floor((column * width) / columns), Math.floor(((column + 1) * width) / columns)];
          const [y0, y1] = [Math.floor((row * height) / rows), Math.floor(((row + 1) * height) / rows)];
          let ink = 0;
          for (let y = y0; y < y1; y += 2) {
            for (let x = x0; x < x1; x += 2) {
              const at = (y * width + x) * 4;
              if (data[at] < 235 || data[at + 1] < 235 || data[at + 2] < 235) ink++;
            }
          }
          drawn.push(ink > 0.005 * ((x1 - x0) * (y1 - y0)) / 4);
        }
      }
      return drawn;
    };
    const [actual, reference] = [await load(a), await load(b)];
    const [ca, cb] = [cells(actual, 4, 24), cells(reference, 4, 24)];
    return {
      actual: [actual.width, actual.height],
      reference: [reference.width, reference.height],
      drawn: ca.filter(Boolean).length,
      differing: ca.filter((d, i) => d !== cb[i]).length,
      cells: ca.length,
    };
  }, [actual.toString("base64"), reference.toString("base64")]);
  const failures = [];
  const [[aw, ah], [rw, rh]] = [measured.actual, measured.reference];
  if (aw !== rw) failures.push(`screenshot ${aw} px wide, the reference ${rw}`);
  if (Math.abs(ah - rh) > 0.15 * rh) failures.push(`screenshot ${ah} px high, the reference ${rh} (more than 15 % off)`);
  if (measured.drawn < measured.cells / 4) failures.push(`only ${measured.drawn} of ${measured.cells} cells drawn: a blank page`);
  if (measured.differing > 0.1 * measured.cells) {
    failures.push(`${measured.differing} of ${measured.cells} cells drawn in one image and blank in the other`);
  }
  return { ...measured, failures };
}
