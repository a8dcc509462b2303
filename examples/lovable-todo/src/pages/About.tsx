export default function About() {
  return (
    <>
      <h1 data-testid="about-title">About</h1>
      <p>Built with Lovable, served by ferry from an immutable release.</p>
    </>
  );
}
