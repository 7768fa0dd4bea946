import type { ApiName } from '../providers/kind.ts';
import { chatCompletionsApi } from './chat-completions/index.ts';
import { messagesApi } from './messages/index.ts';
import { responsesApi } from './responses/index.ts';
import type { ApiModule } from './types.ts';

/** The API module of each bridged API the provider kinds' routes name. */
export const API_MODULES: Record<ApiName, ApiModule> = {
  chat: chatCompletionsApi,
  responses: responsesApi,
  messages: messagesApi,
};
