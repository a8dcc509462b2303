import "./globals.css";

export const metadata = {
  title: "ferry notes",
  description: "A Next.js app deployed with ferry",
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <nav>
          <a href="/">Notes</a> · <a href="/env">Runtime env</a>
        </nav>
        <main>{children}</main>
      </body>
    </html>
  );
}
