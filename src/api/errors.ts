import { GraphQLError } from 'graphql';

/** An error the client caused; its message is shown as is (contract §2). */
export function badUserInput(message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', ...extra } });
}
