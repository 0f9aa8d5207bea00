export function PlaygroundView() {
  return <p>Kernel playground</p>;
}
