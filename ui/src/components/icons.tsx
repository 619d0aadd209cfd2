// The few icons the UI draws, inline SVG (no icon font, no requests).

const svg = (d: string, title?: string) => (
  <svg viewBox="0 0 16 16" fill="none" stroke="currentColor" stroke-width="1.5"
       stroke-linecap="round" stroke-linejoin="round" aria-hidden={title ? undefined : "true"}>
    {title ? <title>{title}</title> : null}
    <path d={d} />
  </svg>
);

export const IconLogo = () => (
  <svg viewBox="0 0 16 16" aria-hidden="true">
    <rect width="16" height="16" rx="3" fill="#0b64dd" />
    <path d="M4 5h8M5 8h6M6.5 11h3" stroke="#fff" stroke-width="1.6" stroke-linecap="round" />
  </svg>
);
export const IconSearch = () => svg("M7 12.5a5.5 5.5 0 1 0 0-11 5.5 5.5 0 0 0 0 11ZM11 11l3.5 3.5");
export const IconPlus = () => svg("M7 12.5a5.5 5.5 0 1 0 0-11 5.5 5.5 0 0 0 0 11ZM11 11l3.5 3.5M7 4.5v5M4.5 7h5");
export const IconMinus = () => svg("M7 12.5a5.5 5.5 0 1 0 0-11 5.5 5.5 0 0 0 0 11ZM11 11l3.5 3.5M4.5 7h5");
export const IconClock = () => svg("M8 14.5a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13ZM8 4.5V8l2.5 1.5");
export const IconZoomOut = () => svg("M7 12.5a5.5 5.5 0 1 0 0-11 5.5 5.5 0 0 0 0 11ZM11 11l3.5 3.5M4.5 7h5");
export const IconClose = () => svg("M4 4l8 8M12 4l-8 8");
export const IconCopy = () => svg("M5.5 5.5h8v8h-8zM10.5 5.5v-3h-8v8h3");
export const IconDownload = () => svg("M8 2v8M4.5 7 8 10.5 11.5 7M2.5 13.5h11");
export const IconTrash = () => svg("M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.7 9h5.6l.7-9");
export const IconSun = () => svg("M8 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6ZM8 1v1.5M8 13.5V15M1 8h1.5M13.5 8H15M3 3l1 1M12 12l1 1M3 13l1-1M12 4l1-1");
export const IconMoon = () => svg("M13.5 9.5A5.5 5.5 0 0 1 6.5 2.5a5.5 5.5 0 1 0 7 7Z");
export const IconPause = () => svg("M5.5 3v10M10.5 3v10");
export const IconPlay = () => svg("M5 3l8 5-8 5Z");
export const IconContext = () => svg("M2.5 3.5h11M2.5 6.5h11M2.5 9.5h11M2.5 12.5h11M1 8h1");
export const IconFilter = () => svg("M2 3h12l-4.5 5.5V13l-3 1.5V8.5Z");
