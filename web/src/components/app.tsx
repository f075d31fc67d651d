/**
 * Sign-in (contract §5, §8): the token of `#token=…` (kept in sessionStorage, taken off the
 * address bar) or one typed in; checked with `me`, then the session cookie for /admin/queues is
 * asked for. With AUTH_MODE=off there is nothing to sign in to.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, graphqlClient, openSession } from '../api.js';
import { authMode, keepToken, savedToken, takeTokenFromFragment } from '../session.js';
import { Dashboard } from './dashboard.js';

export interface User {
  name: string;
  role: string;
}

type Session =
  | { kind: 'checking'; token: string | null }
  | { kind: 'signed-in'; token: string | null; user: User }
  | { kind: 'signed-out'; problem: string | null }
  | { kind: 'unreachable'; token: string | null; problem: string };

function initialSession(): Session {
  const fromFragment = takeTokenFromFragment();
  if (fromFragment !== null) keepToken(fromFragment);
  const token = savedToken();
  if (token || authMode() === 'off') return { kind: 'checking', token };
  return { kind: 'signed-out', problem: fromFragment === '' ? 'Signed out.' : null };
}

export function App() {
  const [session, setSession] = useState<Session>(initialSession);

  const signIn = useCallback((token: string | null) => {
    keepToken(token);
    setSession({ kind: 'checking', token });
  }, []);

  const signOut = useCallback((problem: string | null) => {
    keepToken(null);
    setSession(authMode() === 'off' ? { kind: 'checking', token: null } : { kind: 'signed-out', problem });
  }, []);

  // A new #token=… typed into the address bar of the open page.
  useEffect(() => {
    const onHash = () => {
      const token = takeTokenFromFragment();
      if (token === null) return;
      if (token) signIn(token);
      else signOut('Signed out.');
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [signIn, signOut]);

  useEffect(() => {
    if (session.kind !== 'checking') return;
    let current = true;
    const { token } = session;
    graphqlClient(token)<{ me: User }>('{ me { name role } }').then(
      ({ me }) => {
        if (!current) return;
        setSession({ kind: 'signed-in', token, user: me });
        // The cookie /admin/queues accepts (contract §8); not needed by this page.
        if (token) void openSession(token);
      },
      (err: unknown) => {
        if (!current) return;
        if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') {
          keepToken(null);
          setSession({ kind: 'signed-out', problem: `The server refused this token: ${err.message}` });
        } else {
          setSession({ kind: 'unreachable', token, problem: err instanceof Error ? err.message : String(err) });
        }
      },
    );
    return () => {
      current = false;
    };
  }, [session]);

  switch (session.kind) {
    case 'signed-in':
      return (
        <Dashboard
          token={session.token}
          user={session.user}
          authOff={authMode() === 'off'}
          onSignOut={() => signOut('Signed out.')}
          onRefused={(why) => signOut(why)}
        />
      );
    case 'checking':
      return <Splash text="Signing in…" />;
    case 'unreachable':
      return (
        <Splash text={`Cannot reach Patternwire: ${session.problem}`}>
          <button type="button" class="btn" onClick={() => signIn(session.token)}>
            Try again
          </button>
        </Splash>
      );
    case 'signed-out':
      return <SignIn problem={session.problem} onToken={signIn} />;
  }
}

function Splash({ text, children }: { text: string; children?: ComponentChildren }) {
  return (
    <div class="splash">
      <div class="card">
        <h1 class="brand">
          <span class="logo" aria-hidden="true" />
          Patternwire
        </h1>
        <p>{text}</p>
        {children}
      </div>
    </div>
  );
}

function SignIn({ problem, onToken }: { problem: string | null; onToken: (token: string) => void }) {
  const [token, setToken] = useState('');
  return (
    <div class="splash">
      <form
        class="card sign-in"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) onToken(token.trim());
        }}
      >
        <h1 class="brand">
          <span class="logo" aria-hidden="true" />
          Patternwire
        </h1>
        <label for="token">API token</label>
        <div class="row">
          <input
            id="token"
            name="token"
            type="password"
            autoComplete="off"
            spellcheck={false}
            placeholder="pw_…"
            maxLength={4096}
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
          />
          <button type="submit" class="btn primary" disabled={!token.trim()}>
            Sign in
          </button>
        </div>
        {problem && (
          <p class="problem" role="alert">
            {problem}
          </p>
        )}
        <p class="hint">
          Open the <code>Dashboard:</code> link that <code>npm start</code> prints, or make a token with{' '}
          <code>patternwire tokens create &lt;user&gt;</code>. It is kept in this tab only.
        </p>
      </form>
    </div>
  );
}
