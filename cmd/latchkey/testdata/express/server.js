// An app backend written the way Corbado Connect's backend guide shows: it mints connect
// tokens with HTTP Basic and verifies signedPasskeyData at /v2/passkeys/verifySignedData,
// checking verificationResult === "success". Only BACKEND_API_URL and the credentials point
// it at Latchkey instead of Corbado. Its own session system is reduced to a header, since the
// test is about the broker's API.
const express = require('express');

const BACKEND_API_URL = process.env.BACKEND_API_URL;
const CORBADO_API_SECRET = Buffer.from(`${process.env.PROJECT_ID}:${process.env.API_SECRET}`).toString('base64');

const app = express();
app.use(express.json());

app.post('/auth/createConnectToken', async (req, res) => {
  try {
    const user = req.get('X-Session-User');
    if (!user) {
      return res.status(401).json({ error: 'Invalid session' });
    }
    const response = await fetch(`${BACKEND_API_URL}/v2/connectTokens`, {
      method: 'POST',
      headers: {
        'Authorization': `Basic ${CORBADO_API_SECRET}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        type: req.body.type,
        data: { displayName: `Display ${user}`, identifier: user },
      }),
    });
    if (!response.ok) {
      console.error('Failed to get connectToken:', await response.text());
      return res.status(500).json({ error: 'Failed to get connectToken' });
    }
    const data = await response.json();
    res.json({ connectToken: data.secret });
  } catch (error) {
    console.error('Error getting connectToken:', error);
    res.status(500).json({ error: 'Internal server error' });
  }
});

app.post('/auth/verifySignedData', async (req, res) => {
  try {
    const response = await fetch(`${BACKEND_API_URL}/v2/passkeys/verifySignedData`, {
      method: 'POST',
      headers: {
        'Authorization': `Basic ${CORBADO_API_SECRET}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ signedPasskeyData: req.body.signedPasskeyData }),
    });
    if (!response.ok) {
      return res.status(500).json({ error: 'Verification request failed' });
    }
    const data = await response.json();
    if (data.verificationResult !== 'success') {
      return res.status(401).json({ error: 'Passkey login failed', result: data.verificationResult });
    }
    // Here the app would create its own session for data.username.
    res.json({ session: `session-for-${data.username}`, userID: data.userID });
  } catch (error) {
    console.error('Error verifying signedPasskeyData:', error);
    res.status(500).json({ error: 'Internal server error' });
  }
});

const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
