import { COLLECTIONS, DuplicateError, type TeamDoc, type TeamMemberDoc, type TeamPatch } from '../store.ts';
import type { Sync } from './protocol.ts';
import { decode, decodeAll } from './rows.ts';
import { idList, isUnique, type Sql } from './sql.ts';

/** Teams and their memberships (one row per team and user). */
export class EmbeddedTeams implements Sync<'teams'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  create(team: TeamDoc): void {
    try {
      this.#sql.insert(COLLECTIONS.teams, team, false);
    } catch (err) {
      if (isUnique(err)) throw new DuplicateError(`team "${team.name}" already exists`);
      throw err;
    }
  }

  list(): TeamDoc[] {
    return decodeAll<TeamDoc>(COLLECTIONS.teams, this.#sql.all('SELECT doc FROM teams ORDER BY name_key'));
  }

  byId(id: string): TeamDoc | null {
    return this.#sql.find<TeamDoc>(COLLECTIONS.teams, id);
  }

  byName(name: string): TeamDoc | null {
    const row = this.#sql.get('SELECT doc FROM teams WHERE name_key = ?', [name.toLowerCase()]);
    return row ? decode<TeamDoc>(COLLECTIONS.teams, row.doc as string) : null;
  }

  update(id: string, patch: TeamPatch): boolean {
    return this.#sql.transaction(() => {
      const team = this.#sql.find<TeamDoc>(COLLECTIONS.teams, id);
      if (!team) return false;
      this.#sql.replace(COLLECTIONS.teams, { ...team, ...patch });
      return true;
    });
  }

  delete(id: string): boolean {
    return this.#sql.transaction(() => {
      this.#sql.run('DELETE FROM team_members WHERE team_id = ?', [id]);
      return this.#sql.run('DELETE FROM teams WHERE id = ?', [id]) === 1;
    });
  }

  addMember(member: TeamMemberDoc): boolean {
    return this.#sql.insert(COLLECTIONS.teamMembers, member) === 1;
  }

  removeMember(teamId: string, userId: string): boolean {
    return this.#sql.run('DELETE FROM team_members WHERE team_id = ? AND user_id = ?', [teamId, userId]) === 1;
  }

  members(query: { team_ids?: readonly string[]; user_id?: string } = {}): TeamMemberDoc[] {
    const terms: string[] = [];
    const params: string[] = [];
    if (query.team_ids !== undefined) {
      terms.push('team_id IN (SELECT value FROM json_each(?))');
      params.push(idList(query.team_ids));
    }
    if (query.user_id !== undefined) {
      terms.push('user_id = ?');
      params.push(query.user_id);
    }
    const where = terms.length ? `WHERE ${terms.join(' AND ')}` : '';
    return decodeAll<TeamMemberDoc>(
      COLLECTIONS.teamMembers,
      this.#sql.all(`SELECT doc FROM team_members ${where} ORDER BY team_id, user_id`, params),
    );
  }
}
