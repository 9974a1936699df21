// The openai Node SDK's tool runner against a gateway: it asks, runs the tool the model
// calls, sends the result back, and repeats until the model answers in text — failing
// (LengthFinishReasonError) if an answer is cut at max_tokens. Prints one JSON line.
//
//   node run_tools.mjs BASE_URL MODEL [stream]
import OpenAI from 'openai';

const [baseURL, model, mode] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });
const calls = [];
const runner = client.chat.completions.runTools({
  model,
  max_tokens: 600,
  stream: mode === 'stream',
  messages: [{ role: 'user', content: 'What is the weather in Hangzhou right now?' }],
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather for a city.',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' } },
          required: ['city'],
        },
        parse: JSON.parse,
        function: (args) => {
          calls.push(args);
          return { city: args.city ?? 'Hangzhou', temp_c: 21, sky: 'clear' };
        },
      },
    },
  ],
});
const content = await runner.finalContent();
const completion = await runner.finalChatCompletion();
console.log(
  JSON.stringify({
    content,
    calls,
    finish: completion.choices[0].finish_reason,
    messages: runner.messages.length,
  }),
);
