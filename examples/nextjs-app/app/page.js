import Image from "next/image";
import Notes from "./notes";

export default function Home() {
  return (
    <>
      <h1>
        <Image src="/ferry.png" width={32} height={32} alt="" /> Notes on ferry
      </h1>
      <p>The list below comes from this app&apos;s own route handler, <code>/api/notes</code>.</p>
      <Notes />
    </>
  );
}
